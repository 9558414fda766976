// A reader for macOS Bom files written for the tests from the format's description (BOMStore header,
// block table, named variables, the Paths B-tree), independent of installer/src/packages/bom.ts, so a
// writer bug cannot hide behind a matching reader bug.

export interface BomPath {
  path: string;
  type: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  checksum: number;
  linkTarget: string;
}

export function readBom(buf: Buffer): { variables: string[]; paths: BomPath[] } {
  if (buf.toString('ascii', 0, 8) !== 'BOMStore') throw new Error('not a BOMStore');
  if (buf.readUInt32BE(8) !== 1) throw new Error(`BOMStore version ${buf.readUInt32BE(8)}`);
  const indexOffset = buf.readUInt32BE(16);
  const varsOffset = buf.readUInt32BE(24);

  const blockCount = buf.readUInt32BE(indexOffset);
  const block = (i: number): Buffer => {
    if (i <= 0 || i >= blockCount) throw new Error(`block ${i} outside the table of ${blockCount}`);
    const at = indexOffset + 4 + i * 8;
    const address = buf.readUInt32BE(at);
    const length = buf.readUInt32BE(at + 4);
    if (address + length > buf.length) throw new Error(`block ${i} runs past the end of the file`);
    return buf.subarray(address, address + length);
  };

  const variables = new Map<string, number>();
  let at = varsOffset + 4;
  for (let n = buf.readUInt32BE(varsOffset); n > 0; n--) {
    const index = buf.readUInt32BE(at);
    const len = buf.readUInt8(at + 4);
    variables.set(buf.toString('ascii', at + 5, at + 5 + len), index);
    at += 5 + len;
  }

  const treeBlock = block(variables.get('Paths') ?? 0);
  if (treeBlock.toString('ascii', 0, 4) !== 'tree') throw new Error('Paths is not a tree');
  const declared = treeBlock.readUInt32BE(16);

  // Descend to the first leaf, then follow the leaves' forward links.
  let node = block(treeBlock.readUInt32BE(8));
  while (node.readUInt16BE(0) === 0) node = block(node.readUInt32BE(12));
  const raw: { id: number; parent: number; name: string; info: Buffer }[] = [];
  for (;;) {
    const count = node.readUInt16BE(2);
    for (let k = 0; k < count; k++) {
      const info1 = block(node.readUInt32BE(12 + k * 8));
      const file = block(node.readUInt32BE(16 + k * 8));
      const nul = file.indexOf(0, 4);
      raw.push({ id: info1.readUInt32BE(0), parent: file.readUInt32BE(0), name: file.toString('utf8', 4, nul), info: block(info1.readUInt32BE(4)) });
    }
    const forward = node.readUInt32BE(4);
    if (forward === 0) break;
    node = block(forward);
  }
  if (raw.length !== declared) throw new Error(`Paths declares ${declared} paths, its leaves hold ${raw.length}`);

  const byId = new Map(raw.map((r) => [r.id, r]));
  const fullPath = (r: (typeof raw)[number]): string => (r.parent === 0 ? r.name : `${fullPath(byId.get(r.parent)!)}/${r.name}`);
  const paths = raw.map((r) => {
    const linkLength = r.info.readUInt32BE(27);
    return {
      path: fullPath(r),
      type: r.info.readUInt8(0),
      mode: r.info.readUInt16BE(4),
      uid: r.info.readUInt32BE(6),
      gid: r.info.readUInt32BE(10),
      size: r.info.readUInt32BE(18),
      checksum: r.info.readUInt32BE(23),
      linkTarget: linkLength > 0 ? r.info.toString('utf8', 31, 31 + linkLength - 1) : '',
    };
  });
  return { variables: [...variables.keys()], paths };
}
