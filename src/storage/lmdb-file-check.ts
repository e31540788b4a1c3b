import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { checkLmdbTrees } from "./lmdb-tree-check.js";

/**
 * Checks an LMDB data file before the lmdb package maps it. LMDB trusts its file: a truncated
 * file or a meta page with a wild root or page count makes it read outside the mapping, which
 * kills the process with a bus error or a segfault instead of an error. Both meta pages are
 * checked (LMDB uses the one with the newer transaction, and writes them in turn).
 *
 * Meta page layout of the LMDB the lmdb package ships (data version 2, 64-bit), little-endian:
 *   0 pgno (8) · 8 txnid (8) · 16 pad (2) · 18 flags (2, P_META) · 20 lower/upper (4)
 *   24 magic (4) · 28 version (4) · 32 address (8) · 40 mapsize (8)
 *   48 free db (48: pad = page size, flags, depth, branch, leaf, overflow, entries, root)
 *   96 main db (48) · 144 last page (8) · 152 txnid (8)
 * Returns a description of the defect, or undefined when the file looks sound.
 */
const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const P_META = 0x08;
const META_BYTES = 160;
const DB_BYTES = 48;
const FREE_DB = 48;
const MAIN_DB = 96;
const P_INVALID = 0xffffffffffffffffn;
const MAX_DEPTH = 64;

export function checkLmdbFile(file: string): string | undefined {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const first = readAt(fd, 0);
    if (first === undefined) return `file of ${size} bytes is shorter than an LMDB meta page`;
    const pageSize = first.readUInt32LE(FREE_DB);
    if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0)
      return "meta page 0 has no valid page size (not an LMDB file, or corrupt)";
    const second = readAt(fd, pageSize);
    if (second === undefined) return `file of ${size} bytes is truncated inside its meta pages`;
    for (const [index, page] of [first, second].entries()) {
      const defect = metaDefect(page, index, pageSize, size);
      if (defect !== undefined) return `meta page ${index} ${defect}`;
    }
    const newest = second.readBigUInt64LE(152) > first.readBigUInt64LE(152) ? 1 : 0;
    return checkLmdbTrees(file, pageSize, newest);
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number): Buffer | undefined {
  const page = Buffer.alloc(META_BYTES);
  return readSync(fd, page, 0, META_BYTES, position) === META_BYTES ? page : undefined;
}

function metaDefect(
  page: Buffer,
  index: number,
  pageSize: number,
  fileSize: number,
): string | undefined {
  if (page.readUInt32LE(24) !== MAGIC) return "has no LMDB magic (not an LMDB file, or corrupt)";
  if (page.readUInt32LE(28) !== DATA_VERSION)
    return `has LMDB data version ${page.readUInt32LE(28)}, not ${DATA_VERSION}`;
  if (page.readBigUInt64LE(0) !== BigInt(index)) return "carries another page number";
  if ((page.readUInt16LE(18) & P_META) === 0) return "is not flagged as a meta page";
  if (page.readUInt32LE(FREE_DB) !== pageSize) return "disagrees on the page size";
  const lastPage = page.readBigUInt64LE(144);
  const pages = lastPage + 1n;
  if (lastPage < 1n) return "counts fewer pages than the meta pages themselves";
  if (pages * BigInt(pageSize) > BigInt(fileSize))
    return `says the file holds ${pages} pages of ${pageSize} bytes, but it is ${fileSize} bytes (truncated)`;
  if (page.readBigUInt64LE(40) < pages * BigInt(pageSize)) return "has a map smaller than the file";
  for (const [name, at] of [
    ["free", FREE_DB],
    ["main", MAIN_DB],
  ] as const) {
    const depth = page.readUInt16LE(at + 6);
    const root = page.readBigUInt64LE(at + DB_BYTES - 8);
    const used =
      page.readBigUInt64LE(at + 8) + page.readBigUInt64LE(at + 16) + page.readBigUInt64LE(at + 24);
    if (root === P_INVALID) {
      if (depth !== 0 || used !== 0n) return `has an empty ${name} tree that holds pages`;
      continue;
    }
    if (root < 2n || root > lastPage) return `points the ${name} tree outside the file`;
    if (depth < 1 || depth > MAX_DEPTH) return `gives the ${name} tree an impossible depth`;
    if (used > pages) return `gives the ${name} tree more pages than the file holds`;
  }
  return undefined;
}
