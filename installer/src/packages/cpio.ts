// A cpio archive in the portable "odc" format (POSIX.1 octal headers), which macOS Installer reads
// for a flat package's Payload and Scripts.

export interface CpioEntry {
  /** Relative name as stored: "." or "./Library/...". */
  name: string;
  /** Full st_mode, type bits included (0o040755 for a folder). */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  data: Uint8Array;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

function octal(value: number, width: number): string {
  const text = value.toString(8);
  if (text.length > width) throw new Error(`cpio field ${value} does not fit in ${width} octal digits`);
  return text.padStart(width, '0');
}

export function writeCpioOdc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const trailer: CpioEntry = { name: 'TRAILER!!!', mode: 0, uid: 0, gid: 0, mtime: 0, data: new Uint8Array() };
  for (const e of [...entries, trailer]) {
    const name = Buffer.from(`${e.name}\0`, 'utf8');
    const isTrailer = e === trailer;
    const header =
      '070707' + octal(0, 6) + octal(isTrailer ? 0 : ino++, 6) + octal(e.mode, 6) + octal(e.uid, 6) + octal(e.gid, 6) +
      octal((e.mode & S_IFMT) === S_IFDIR ? 2 : 1, 6) + octal(0, 6) +
      octal(e.mtime, 11) + octal(name.length, 6) + octal(e.data.length, 11);
    parts.push(Buffer.from(header, 'ascii'), name, Buffer.from(e.data));
  }
  return Buffer.concat(parts);
}
