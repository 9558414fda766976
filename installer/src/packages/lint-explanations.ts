// Every lintian / rpmlint finding the packages keep, and why. The tests fail on any finding not here,
// so a new one is either fixed or explained in this table (docs/deployment/packages.md repeats it).

export const LINTIAN_KEPT: Readonly<Record<string, string>> = {
  'dir-or-file-in-opt': 'the install layout every Heimdall package and MDM script shares puts the executable in /opt/heimdall (FHS add-on software); the tag is a rule for packages in the Debian archive',
  // The next three appear with the real executable (the official Node binary with the agent injected).
  'embedded-library': 'Node links zlib (and OpenSSL, V8, libuv) statically into its official binary; the executable is that binary',
  'unstripped-binary-or-object': 'the executable is shipped byte for byte as built and checksummed (SHA256SUMS); stripping would change it after the SEA blob was injected',
  'hardening-no-pie': 'the official Node binaries are linked without PIE; the executable is one of them',
};

export const RPMLINT_KEPT: Readonly<Record<string, string>> = {
  'dir-or-file-in-opt': 'as for lintian: the shared install layout is /opt/heimdall',
  'no-signature': 'packages are signed at release with the organization\'s key (rpm --addsign), not in the build',
  'invalid-license': 'rpmlint 2.4 checks an old list of license names; Apache-2.0 is the SPDX name Fedora uses',
  'only-non-binary-in-usr-lib': 'the only file in /usr/lib is the systemd unit, which belongs there',
  'manpage-not-compressed': 'rpmlint expects bzip2 (its default CompressExtension); the page is gzip, which man reads everywhere',
  'no-manual-page-for-binary': 'follows from manpage-not-compressed: the page is there as heimdall.1.gz',
  'dangerous-command-in-%postun': 'RPM has no purge: erasing the package removes /var/lib/heimdall and /run/heimdall so nothing is left behind',
  'no-binary': 'only with the stand-in executable the tests use (a shell script); the real executable is an ELF binary',
  // With the real executable, as for lintian:
  'unstripped-binary-or-object': 'shipped byte for byte as built and checksummed; stripping would change it after the SEA blob was injected',
  'position-independent-executable-suggested': 'the official Node binaries are linked without PIE',
  'binary-or-shlib-calls-gethostbyname': 'Node\'s own resolver fallback in the official binary (the agent resolves through Node\'s dns module)',
};
