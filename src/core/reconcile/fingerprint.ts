/**
 * Fingerprints of ranges and tags of items, as sent over the wire: a few bytes derived from a
 * range sum (count and 128-bit hash sum, range-sum.ts) or from one entry hash, keyed by the
 * session's salt.
 *
 * Why this is enough. Entry hashes are SHA-256 outputs, so two different sets of items have
 * different 128-bit sums except with probability 2^-128, and the count is folded in as well (as
 * negentropy does), so what the fingerprint must do is only compress (count, sum) without
 * making two different ones look equal. With F bytes it does so except with probability 2^-8F
 * per comparison of two ranges that differ; equal ranges always match. Fingerprints are salted
 * per session, so such a false match is not repeated the next time: it only delays the repair of
 * that range by one session, and the node notices it because the 128-bit state digests still
 * differ after applying what the session found. With F = 4 and about 5·d comparisons of
 * differing ranges per session, a session misses something with probability about d · 10^-9,
 * which buys the smallest messages. The mixing is MurmurHash3's, keyed by the salt: not a MAC,
 * but its input, sums of SHA-256 outputs, is not something a writer can steer.
 */
import { fmix32 } from "./key-hash.js";

/** Bytes per fingerprint and per item tag unless the session says otherwise. */
export const DEFAULT_FINGERPRINT_BYTES = 4;
export const MIN_FINGERPRINT_BYTES = 4;
export const MAX_FINGERPRINT_BYTES = 16;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
/** Separates the 32-bit words of a longer fingerprint: each word uses its own derived seed. */
const WORD_SEED_STEP = 0x9e3779b9;
/** Separates item tags from range fingerprints, so a one-item range never equals a tag. */
const TAG_DOMAIN = 0x7a67;

function round(h: number, word: number): number {
  let k = Math.imul(word, C1);
  k = Math.imul((k << 15) | (k >>> 17), C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function mix5(seed: number, w0: number, w1: number, w2: number, w3: number, w4: number): number {
  let h = round(seed, w0);
  h = round(h, w1);
  h = round(h, w2);
  h = round(h, w3);
  h = round(h, w4);
  return fmix32(h ^ 20);
}

/**
 * Writes the fingerprint of the range sum at `sums[at]` (SUM_WIDTH slots: count, h0..h3) into
 * `out[outAt .. outAt + bytes)`; `bytes` is a multiple of 4.
 */
export function writeFingerprint(
  sums: Int32Array,
  at: number,
  salt: number,
  bytes: number,
  out: Uint8Array,
  outAt: number,
): void {
  const count = sums[at]!;
  const h0 = sums[at + 1]!;
  const h1 = sums[at + 2]!;
  const h2 = sums[at + 3]!;
  const h3 = sums[at + 4]!;
  for (let word = 0; word < bytes; word += 4) {
    const seed = (salt + Math.imul(word >>> 2, WORD_SEED_STEP)) | 0;
    writeUint32(out, outAt + word, mix5(seed, count, h0, h1, h2, h3));
  }
}

/** Whether the fingerprint at `out[outAt]` equals that of the range sum at `sums[at]`. */
export function fingerprintMatches(
  sums: Int32Array,
  at: number,
  salt: number,
  bytes: number,
  theirs: Uint8Array,
  theirsAt: number,
): boolean {
  const count = sums[at]!;
  const h0 = sums[at + 1]!;
  const h1 = sums[at + 2]!;
  const h2 = sums[at + 3]!;
  const h3 = sums[at + 4]!;
  for (let word = 0; word < bytes; word += 4) {
    const seed = (salt + Math.imul(word >>> 2, WORD_SEED_STEP)) | 0;
    if (mix5(seed, count, h0, h1, h2, h3) !== readInt32(theirs, theirsAt + word)) return false;
  }
  return true;
}

/** The first 32-bit word of an item's tag: what the entry hash looks like in this session. */
export function itemTagWord(
  salt: number,
  word: number,
  h0: number,
  h1: number,
  h2: number,
  h3: number,
): number {
  const seed = (salt + Math.imul(word, WORD_SEED_STEP)) | 0;
  return mix5(seed, TAG_DOMAIN, h0, h1, h2, h3);
}

export function writeUint32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = value >>> 16;
  out[at + 2] = value >>> 8;
  out[at + 3] = value;
}

/** Reads 4 bytes big-endian as int32. */
export function readInt32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
}
