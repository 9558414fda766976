// Every lintian / rpmlint finding the packages keep, and why. The tests fail on any finding not here,
// so a new one is either fixed or explained in this table (docs/deployment/packages.md repeats it).

export const LINTIAN_KEPT: Readonly<Record<string, string>> = {
  'dir-or-file-in-opt': 'the install layout every Heimdall package and MDM script shares puts the executable in /opt/heimdall (FHS add-on software); the tag is a rule for packages in the Debian archive',
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
};
