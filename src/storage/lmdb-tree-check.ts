import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/**
 * Walks every B-tree of an LMDB file, page by page, before the lmdb package maps it. LMDB
 * checks nothing when it reads a page: a zeroed or garbled page makes it fail an assertion
 * (the process aborts), follow a wild pointer (a segfault) or end a scan early (a replica read
 * as smaller than it is). Here each page reached must say it is the page it was reached as, be
 * of the kind its depth calls for, and point only inside the file, and each tree must hold as
 * many entries as its record says. Returns the first defect, or undefined.
 *
 * Page layout of the LMDB the lmdb package ships (little-endian): 0 pgno (8) · 8 txnid (8) ·
 * 16 pad (2) · 18 flags (2) · 20 lower (2) · 22 upper (2) (overflow: 20 page count (4)) ·
 * 24 node offsets (2 each); lower, upper and node offsets count from byte 24. A node: 0 lo (2) · 2 hi (2) · 4 flags (2) · 6 key size (2) · 8 key ·
 * data. A branch node's child page is lo | hi << 16 | flags << 32; a leaf node's data size is
 * lo | hi << 16.
 */
const HEADER = 24;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const NODE_HEADER = 8;
const DB_BYTES = 48;
const P_INVALID = 0xffffffffffffffffn;

interface Tree {
  name: string;
  depth: number;
  entries: bigint;
  root: bigint;
}

export function checkLmdbTrees(
  file: string,
  pageSize: number,
  metaPage: number,
): string | undefined {
  const fd = openSync(file, "r");
  try {
    const pages = BigInt(Math.floor(fstatSync(fd).size / pageSize));
    const read = (pgno: bigint): Buffer => {
      const page = Buffer.alloc(pageSize);
      readSync(fd, page, 0, pageSize, Number(pgno) * pageSize);
      return page;
    };
    const meta = read(BigInt(metaPage));
    const main = treeAt(meta, HEADER + 72, "main");
    const named: Tree[] = [];
    const defect = walk(main, pages, pageSize, read, (key, flags, data) => {
      if ((flags & F_SUBDATA) !== 0 && data.length >= DB_BYTES)
        named.push(treeAt(data, 0, key.toString("latin1")));
    });
    if (defect !== undefined) return defect;
    for (const tree of named) {
      const bad = walk(tree, pages, pageSize, read, () => {});
      if (bad !== undefined) return bad;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function treeAt(bytes: Buffer, at: number, name: string): Tree {
  return {
    name,
    depth: bytes.readUInt16LE(at + 6),
    entries: bytes.readBigUInt64LE(at + 32),
    root: bytes.readBigUInt64LE(at + 40),
  };
}

function walk(
  tree: Tree,
  pages: bigint,
  pageSize: number,
  read: (pgno: bigint) => Buffer,
  onLeafNode: (key: Buffer, flags: number, data: Buffer) => void,
): string | undefined {
  if (tree.root === P_INVALID)
    return tree.entries === 0n ? undefined : `tree ${tree.name} lost its root`;
  let found = 0n;
  const stack: { pgno: bigint; level: number }[] = [{ pgno: tree.root, level: 1 }];
  while (stack.length > 0) {
    const { pgno, level } = stack.pop()!;
    const where = `tree ${tree.name}, page ${pgno}`;
    if (pgno < 2n || pgno >= pages) return `${where} lies outside the file`;
    const page = read(pgno);
    if (page.readBigUInt64LE(0) !== pgno)
      return `${where} is not the page it should be (overwritten?)`;
    const flags = page.readUInt16LE(18);
    const leaf = level === tree.depth;
    if ((flags & (leaf ? P_LEAF : P_BRANCH)) === 0)
      return `${where} is not a ${leaf ? "leaf" : "branch"} page`;
    // Offsets count from the end of the page header (this LMDB is built with MDB_DEVEL).
    const lower = page.readUInt16LE(20) + HEADER;
    const upper = page.readUInt16LE(22) + HEADER;
    if (lower > upper || upper > pageSize || (lower - HEADER) % 2 !== 0)
      return `${where} has an impossible layout`;
    const count = (lower - HEADER) / 2;
    for (let i = 0; i < count; i++) {
      const at = page.readUInt16LE(HEADER + 2 * i) + HEADER;
      if (at < upper || at + NODE_HEADER > pageSize) return `${where} has a node outside its page`;
      const lo = page.readUInt16LE(at);
      const hi = page.readUInt16LE(at + 2);
      const nodeFlags = page.readUInt16LE(at + 4);
      const keySize = page.readUInt16LE(at + 6);
      if (at + NODE_HEADER + keySize > pageSize) return `${where} has a key outside its page`;
      if (!leaf) {
        stack.push({
          pgno: BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n),
          level: level + 1,
        });
        continue;
      }
      found++;
      const size = lo | (hi << 16);
      const dataAt = at + NODE_HEADER + keySize;
      if ((nodeFlags & F_BIGDATA) !== 0) {
        if (dataAt + 8 > pageSize) return `${where} has a node outside its page`;
        const first = page.readBigUInt64LE(dataAt);
        const span = BigInt(Math.ceil((size + HEADER) / pageSize));
        if (first < 2n || first + span > pages) return `${where} points a value outside the file`;
        const overflow = read(first);
        if (overflow.readBigUInt64LE(0) !== first || (overflow.readUInt16LE(18) & P_OVERFLOW) === 0)
          return `tree ${tree.name}, overflow page ${first} is not the page it should be`;
        continue;
      }
      if (dataAt + size > pageSize) return `${where} has a value outside its page`;
      onLeafNode(
        page.subarray(at + NODE_HEADER, dataAt),
        nodeFlags,
        page.subarray(dataAt, dataAt + size),
      );
    }
    if (level > tree.depth) return `${where} lies deeper than its tree`;
  }
  return found === tree.entries
    ? undefined
    : `tree ${tree.name} holds ${found} entries where its record counts ${tree.entries}`;
}
