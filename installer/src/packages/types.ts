// What every package format builds from, and what it promises to produce.

export type PackageArch = 'x64' | 'arm64';
export type PackageOs = 'linux' | 'darwin' | 'win';

export interface PackageInput {
  /** The single-file executable for this OS and arch (dist/executables/heimdall-<target>[.exe]). */
  executable: string;
  arch: PackageArch;
  /** package.json's version. */
  version: string;
  /** Folder the package is written to (dist/packages). */
  outDir: string;
  /** Every timestamp in the package (SOURCE_DATE_EPOCH), so the same input gives the same bytes. */
  sourceDateEpoch: number;
  /** A scratch folder the format may use and leave behind. */
  workDir: string;
}

export interface PackageFormat {
  name: 'deb' | 'rpm' | 'pkg' | 'msi';
  os: PackageOs;
  arches: readonly PackageArch[];
  fileName(version: string, arch: PackageArch): string;
  /** Builds the package and returns its path. */
  build(input: PackageInput): Promise<string>;
}

/** A file placed on the target machine. */
export interface PayloadFile {
  /** Absolute path on the target (`/opt/heimdall/bin/heimdall`). */
  path: string;
  mode: number;
  /** Contents, or the host file to copy. */
  content: string | Uint8Array | { from: string };
  /** A dpkg conffile / rpm %config(noreplace): the admin's edits survive upgrades. */
  config?: boolean;
}

export interface PayloadLink {
  path: string;
  target: string;
}
