/**
 * The binary body of a reconciliation message: a sequence of range records.
 *
 *     record       := kind:u8  bits:u8  prefix:byte[ceil(bits/8)]  payload
 *     fingerprints := fp:byte[F] × 2^(min(64, bits + branchBits) - bits)    (kind 1)
 *     items        := n:varint  (suffix:byte[8 - floor(bits/8)]  tag:byte[F]) × n   (kind 2)
 *     diff         := n:varint  suffix × n  m:varint  suffix × m            (kind 3)
 *
 * `bits`/`prefix` name the range (range-node.ts); prefix bytes are big-endian, bits past `bits`
 * zero. Key hashes in items and diffs are sent without the bytes the prefix already fixes. Items
 * are in ascending key-hash order. Varints are LEB128 (7 bits a byte, least significant first).
 * Every length is checked against the bytes left before anything is allocated.
 */
import { ReconcileError } from "./errors.js";
import { readInt32, writeFingerprint } from "./fingerprint.js";
import {
  childBitsOf,
  KEY_HASH_BITS,
  nodeHolds,
  prefixBytes,
  type RangeNode,
  suffixBytes,
} from "./range-node.js";
import { SUM_WIDTH } from "./range-sum.js";
import type { ReconItem } from "./recon-index.js";

export const RECORD_KINDS = { fingerprints: 1, items: 2, diff: 3 } as const;
export type RecordKind = keyof typeof RECORD_KINDS;

/** "Here are my fingerprints of the children of `node`; compare yours." */
export interface FingerprintsRecord {
  kind: "fingerprints";
  node: RangeNode;
  /** 2^(childBits - bits) fingerprints of F bytes, in child order. */
  fingerprints: Uint8Array;
}

/** "Here is every item I hold under `node`." */
export interface ItemsRecord {
  kind: "items";
  node: RangeNode;
  /** Key hashes as int32 pairs (k0, k1), ascending. */
  keys: Int32Array;
  /** Item tags, F / 4 int32 words per item. */
  tags: Int32Array;
}

/** "Comparing your items under `node` with mine: I hold `has` that you lack; I lack `needs`." */
export interface DiffRecord {
  kind: "diff";
  node: RangeNode;
  has: Int32Array;
  needs: Int32Array;
}

export type RangeRecord = FingerprintsRecord | ItemsRecord | DiffRecord;

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

export function fingerprintsRecordBytes(
  node: RangeNode,
  branchBits: number,
  fpBytes: number,
): number {
  const fanout = 2 ** (childBitsOf(node, branchBits) - node.bits);
  return 2 + prefixBytes(node.bits) + fanout * fpBytes;
}

export function itemsRecordBytes(node: RangeNode, count: number, fpBytes: number): number {
  return (
    2 + prefixBytes(node.bits) + varintBytes(count) + count * (suffixBytes(node.bits) + fpBytes)
  );
}

export function diffRecordBytes(node: RangeNode, has: number, needs: number): number {
  const suffix = suffixBytes(node.bits);
  return (
    2 + prefixBytes(node.bits) + varintBytes(has) + varintBytes(needs) + (has + needs) * suffix
  );
}

/** Appends records to a growable buffer; `truncate` undoes the records after a mark. */
export class RecordWriter {
  private buffer: Uint8Array;
  private end = 0;
  /** Where each record starts. */
  private readonly starts: number[] = [];

  constructor(initialBytes = 256) {
    this.buffer = new Uint8Array(initialBytes);
  }

  get length(): number {
    return this.end;
  }

  truncate(length: number): void {
    this.end = Math.min(this.end, length);
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]! >= this.end)
      this.starts.pop();
  }

  /** A copy of what was written. */
  bytes(): Uint8Array {
    return this.buffer.slice(0, this.end);
  }

  /** Each record written, as its own copy. */
  records(): Uint8Array[] {
    return this.starts.map((start, i) => this.buffer.slice(start, this.starts[i + 1] ?? this.end));
  }

  /** The fingerprints of `node`'s children from their sums (SUM_WIDTH slots each). */
  fingerprints(
    node: RangeNode,
    childBits: number,
    sums: Int32Array,
    salt: number,
    fpBytes: number,
  ): void {
    const fanout = 2 ** (childBits - node.bits);
    this.header(RECORD_KINDS.fingerprints, node, fanout * fpBytes);
    for (let i = 0; i < fanout; i++) {
      writeFingerprint(sums, i * SUM_WIDTH, salt, fpBytes, this.buffer, this.end);
      this.end += fpBytes;
    }
  }

  /** Items (sorted by key hash) with their tags, computed by `tagWord(item, word)`. */
  items<T extends ReconItem>(
    node: RangeNode,
    items: readonly T[],
    fpBytes: number,
    tagWord: (item: T, word: number) => number,
  ): void {
    const suffix = suffixBytes(node.bits);
    this.header(RECORD_KINDS.items, node, 5 + items.length * (suffix + fpBytes));
    this.varint(items.length);
    for (const item of items) {
      this.keySuffix(item.k0, item.k1, suffix);
      for (let w = 0; w < fpBytes; w += 4) this.u32(tagWord(item, w >>> 2));
    }
  }

  diff(node: RangeNode, has: readonly number[], needs: readonly number[]): void {
    const suffix = suffixBytes(node.bits);
    this.header(RECORD_KINDS.diff, node, 10 + ((has.length + needs.length) / 2) * suffix);
    for (const list of [has, needs]) {
      this.varint(list.length / 2);
      for (let i = 0; i < list.length; i += 2) this.keySuffix(list[i]!, list[i + 1]!, suffix);
    }
  }

  private header(kind: number, node: RangeNode, payloadBytes: number): void {
    this.reserve(2 + 8 + payloadBytes);
    this.starts.push(this.end);
    this.buffer[this.end++] = kind;
    this.buffer[this.end++] = node.bits;
    const bytes = prefixBytes(node.bits);
    for (let i = 0; i < bytes; i++) this.buffer[this.end++] = keyByte(node.k0, node.k1, i);
  }

  private keySuffix(k0: number, k1: number, suffix: number): void {
    for (let i = 8 - suffix; i < 8; i++) this.buffer[this.end++] = keyByte(k0, k1, i);
  }

  private u32(value: number): void {
    const b = this.buffer;
    b[this.end++] = value >>> 24;
    b[this.end++] = value >>> 16;
    b[this.end++] = value >>> 8;
    b[this.end++] = value;
  }

  private varint(n: number): void {
    while (n >= 0x80) {
      this.buffer[this.end++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buffer[this.end++] = n;
  }

  private reserve(bytes: number): void {
    if (this.end + bytes <= this.buffer.length) return;
    const next = new Uint8Array(Math.max(this.buffer.length * 2, this.end + bytes));
    next.set(this.buffer.subarray(0, this.end));
    this.buffer = next;
  }
}

function keyByte(k0: number, k1: number, i: number): number {
  return (i < 4 ? k0 >>> ((3 - i) * 8) : k1 >>> ((7 - i) * 8)) & 0xff;
}

/** Decodes and checks a message body; throws ReconcileError("bad_message") on any defect. */
export function decodeRecords(
  body: Uint8Array,
  branchBits: number,
  fpBytes: number,
): RangeRecord[] {
  const reader = new Reader(body);
  const records: RangeRecord[] = [];
  while (!reader.done) {
    const kind = reader.u8();
    const node = reader.node();
    if (kind === RECORD_KINDS.fingerprints) {
      if (node.bits >= KEY_HASH_BITS) reader.fail("a single key hash cannot be split");
      const fanout = 2 ** (childBitsOf(node, branchBits) - node.bits);
      records.push({ kind: "fingerprints", node, fingerprints: reader.take(fanout * fpBytes) });
    } else if (kind === RECORD_KINDS.items) {
      records.push(reader.items(node, fpBytes));
    } else if (kind === RECORD_KINDS.diff) {
      const has = reader.keys(node);
      const needs = reader.keys(node);
      records.push({ kind: "diff", node, has, needs });
    } else {
      reader.fail(`unknown record kind ${kind}`);
    }
  }
  return records;
}

class Reader {
  private at = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.bytes.length;
  }

  fail(why: string): never {
    throw new ReconcileError("bad_message", `reconcile record at byte ${this.at}: ${why}`);
  }

  u8(): number {
    if (this.at >= this.bytes.length) this.fail("truncated");
    return this.bytes[this.at++]!;
  }

  take(length: number): Uint8Array {
    if (this.at + length > this.bytes.length) this.fail("truncated");
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  i32(): number {
    if (this.at + 4 > this.bytes.length) this.fail("truncated");
    const value = readInt32(this.bytes, this.at);
    this.at += 4;
    return value;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    return this.fail("varint too long");
  }

  node(): RangeNode {
    const bits = this.u8();
    if (bits > KEY_HASH_BITS) this.fail(`prefix of ${bits} bits`);
    const prefix = this.take(prefixBytes(bits));
    const full = new Uint8Array(8);
    full.set(prefix);
    const node = { bits, k0: readInt32(full, 0), k1: readInt32(full, 4) };
    // Bits past the prefix must be zero, so that a range has exactly one name.
    if (!sameKey(node, maskTo(node.k0, node.k1, bits)))
      this.fail("prefix has bits past its length");
    return node;
  }

  /** A count, checked against the bytes left at `unitBytes` each before allocating. */
  count(unitBytes: number): number {
    const n = this.varint();
    if (n * unitBytes > this.bytes.length - this.at) this.fail(`count ${n} exceeds the message`);
    return n;
  }

  keys(node: RangeNode): Int32Array {
    const suffix = suffixBytes(node.bits);
    const n = this.count(suffix);
    const out = new Int32Array(n * 2);
    for (let i = 0; i < n; i++) this.key(node, suffix, out, i * 2);
    return out;
  }

  items(node: RangeNode, fpBytes: number): ItemsRecord {
    const suffix = suffixBytes(node.bits);
    const n = this.count(suffix + fpBytes);
    const words = fpBytes >>> 2;
    const keys = new Int32Array(n * 2);
    const tags = new Int32Array(n * words);
    for (let i = 0; i < n; i++) {
      this.key(node, suffix, keys, i * 2);
      for (let w = 0; w < words; w++) tags[i * words + w] = this.i32();
      if (i > 0 && compareKeyPair(keys, (i - 1) * 2, keys, i * 2) > 0)
        this.fail("items out of order");
    }
    return { kind: "items", node, keys, tags };
  }

  private key(node: RangeNode, suffix: number, out: Int32Array, at: number): void {
    if (this.at + suffix > this.bytes.length) this.fail("truncated");
    // Start from the prefix's bytes and overwrite the last `suffix` bytes with the sent ones.
    let k0 = node.k0;
    let k1 = node.k1;
    for (let i = 8 - suffix; i < 8; i++) {
      const byte = this.bytes[this.at++]!;
      if (i < 4) {
        const shift = (3 - i) * 8;
        k0 = (k0 & ~(0xff << shift)) | (byte << shift);
      } else {
        const shift = (7 - i) * 8;
        k1 = (k1 & ~(0xff << shift)) | (byte << shift);
      }
    }
    if (!nodeHolds(node, k0, k1)) this.fail("key hash outside its range");
    out[at] = k0;
    out[at + 1] = k1;
  }
}

function maskTo(k0: number, k1: number, bits: number): RangeNode {
  if (bits === 0) return { bits, k0: 0, k1: 0 };
  if (bits <= 32) return { bits, k0: bits === 32 ? k0 : k0 & ~(-1 >>> bits), k1: 0 };
  return { bits, k0, k1: bits === 64 ? k1 : k1 & ~(-1 >>> (bits - 32)) };
}

function sameKey(a: RangeNode, b: RangeNode): boolean {
  return a.k0 === b.k0 && a.k1 === b.k1;
}

/** Orders key pairs (k0, k1) as unsigned 64-bit values. */
export function compareKeyPair(a: Int32Array, at: number, b: Int32Array, bt: number): number {
  const a0 = a[at]! >>> 0;
  const b0 = b[bt]! >>> 0;
  if (a0 !== b0) return a0 < b0 ? -1 : 1;
  const a1 = a[at + 1]! >>> 0;
  const b1 = b[bt + 1]! >>> 0;
  return a1 === b1 ? 0 : a1 < b1 ? -1 : 1;
}
