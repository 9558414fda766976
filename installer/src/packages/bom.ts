// The Bom ("bill of materials") of a macOS flat package, written here because mkbom exists only on
// macOS. Format: a big-endian "BOMStore" of numbered blocks; the named variables BomInfo, Paths,
// HLIndex, VIndex and Size64 point at blocks; Paths is a B-tree whose leaf lists every path with its
// parent, type, mode, owner, size and POSIX cksum.

export interface BomEntry {
  /** "." or "./Library/Heimdall/bin/heimdall" (the Payload's names). */
  path: string;
  type: 'file' | 'dir' | 'link';
  /** Full st_mode. */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  /** POSIX cksum of a file's bytes. */
  checksum: number;
  linkTarget?: string;
}

const TYPE_CODE = { file: 1, dir: 2, link: 3 } as const;
const PATHS_BLOCK_SIZE = 4096;
// One leaf holds (4096 - 12) / 8 entries; a package with more paths needs branch nodes, not written here.
const MAX_LEAF_ENTRIES = 510;

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** POSIX `cksum`: CRC-32 (polynomial 0x04C11DB7, MSB first) over the bytes and then the length. */
export function posixCksum(data: Uint8Array): number {
  let crc = 0;
  const step = (byte: number): void => {
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  };
  for (const b of data) step(b);
  for (let n = data.length; n > 0; n = Math.floor(n / 256)) step(n & 0xff);
  return ~crc >>> 0;
}

class BlockWriter {
  readonly blocks: Buffer[] = [];
  /** Returns the new block's index (block 0 is the null block). */
  add(data: Buffer): number {
    this.blocks.push(data);
    return this.blocks.length;
  }
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

function tree(child: number, blockSize: number, pathCount: number): Buffer {
  return Buffer.concat([Buffer.from('tree', 'ascii'), u32(1, child, blockSize, pathCount), Buffer.from([0])]);
}

function emptyLeaf(size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt16BE(1, 0); // isLeaf
  return b;
}

export function writeBom(entries: readonly BomEntry[]): Buffer {
  if (entries.length > MAX_LEAF_ENTRIES) throw new Error(`a Bom of ${entries.length} paths needs B-tree branch nodes, which this writer does not make (at most ${MAX_LEAF_ENTRIES})`);
  const w = new BlockWriter();
  const ids = new Map<string, number>();
  entries.forEach((e, i) => ids.set(e.path, i + 1));

  const leafIndices: number[] = [];
  for (const e of entries) {
    const link = e.type === 'link' ? Buffer.from(`${e.linkTarget ?? ''}\0`, 'utf8') : Buffer.alloc(0);
    const info2 = Buffer.alloc(31);
    info2.writeUInt8(TYPE_CODE[e.type], 0);
    info2.writeUInt8(1, 1);
    info2.writeUInt16BE(3, 2); // architecture field as mkbom writes it
    info2.writeUInt16BE(e.mode & 0xffff, 4);
    info2.writeUInt32BE(e.uid, 6);
    info2.writeUInt32BE(e.gid, 10);
    info2.writeUInt32BE(e.mtime >>> 0, 14);
    info2.writeUInt32BE(e.size >>> 0, 18);
    info2.writeUInt8(1, 22);
    info2.writeUInt32BE(e.checksum >>> 0, 23);
    info2.writeUInt32BE(link.length, 27);
    const info2Index = w.add(Buffer.concat([info2, link]));
    const id = ids.get(e.path)!;
    const info1Index = w.add(u32(id, info2Index));
    const parentPath = e.path === '.' ? undefined : e.path.slice(0, e.path.lastIndexOf('/')) || '.';
    const parent = parentPath === undefined ? 0 : ids.get(parentPath);
    if (parent === undefined) throw new Error(`Bom entry ${e.path}: its folder ${parentPath} is not in the list (list folders before their contents)`);
    const name = e.path === '.' ? '.' : e.path.slice(e.path.lastIndexOf('/') + 1);
    const fileIndex = w.add(Buffer.concat([u32(parent), Buffer.from(`${name}\0`, 'utf8')]));
    leafIndices.push(info1Index, fileIndex);
  }
  const leaf = Buffer.alloc(PATHS_BLOCK_SIZE);
  leaf.writeUInt16BE(1, 0);
  leaf.writeUInt16BE(entries.length, 2);
  // forward and backward (no sibling leaves) stay 0
  u32(...leafIndices).copy(leaf, 12);
  const pathsLeaf = w.add(leaf);
  const paths = w.add(tree(pathsLeaf, PATHS_BLOCK_SIZE, entries.length));

  const bomInfo = w.add(Buffer.concat([u32(1, entries.length + 1, 1), u32(0, 0, 0, 0)]));
  const hlIndex = w.add(tree(w.add(emptyLeaf(PATHS_BLOCK_SIZE)), PATHS_BLOCK_SIZE, 0));
  const vTree = w.add(tree(w.add(emptyLeaf(128)), 128, 0));
  const vIndex = w.add(Buffer.concat([u32(1, vTree, 0), Buffer.from([0])]));
  const size64 = w.add(tree(w.add(emptyLeaf(128)), 128, 0));

  // Layout: 512-byte header, the blocks, the block table (+ an empty free list), the variables.
  const HEADER = 512;
  const table: Buffer[] = [u32(w.blocks.length + 1), u32(0, 0)];
  let offset = HEADER;
  for (const b of w.blocks) {
    table.push(u32(offset, b.length));
    offset += b.length;
  }
  table.push(u32(0)); // free list: none
  const tableBuf = Buffer.concat(table);
  const vars: [string, number][] = [['BomInfo', bomInfo], ['Paths', paths], ['HLIndex', hlIndex], ['VIndex', vIndex], ['Size64', size64]];
  const varsBuf = Buffer.concat([u32(vars.length), ...vars.map(([name, index]) => Buffer.concat([u32(index), Buffer.from([name.length]), Buffer.from(name, 'ascii')]))]);
  const header = Buffer.alloc(HEADER);
  header.write('BOMStore', 0, 'ascii');
  header.writeUInt32BE(1, 8);
  header.writeUInt32BE(w.blocks.length, 12);
  header.writeUInt32BE(offset, 16);
  header.writeUInt32BE(tableBuf.length, 20);
  header.writeUInt32BE(offset + tableBuf.length, 24);
  header.writeUInt32BE(varsBuf.length, 28);
  return Buffer.concat([header, ...w.blocks, tableBuf, varsBuf]);
}
