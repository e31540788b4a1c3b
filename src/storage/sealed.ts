import { crc32 } from "node:zlib";
import { NamedError } from "../core/named-error.js";
import { msgpack, packBehind } from "../wire/msgpack.js";

/**
 * How every value of a format-2 data directory is stored: a tag byte, the CRC-32 of the
 * msgpack that follows, then that msgpack. LMDB keeps no checksums of its own, so a flipped
 * bit on disk would otherwise be read back as a valid but different value.
 *
 *   0   1  0xC1, a byte msgpack never uses: a format-1 value (plain msgpack) never starts with it
 *   1   4  CRC-32 of bytes 5.. (big-endian)
 *   5   …  msgpack
 */
const TAG = 0xc1;
const HEADER = 5;

export class SealError extends NamedError {}

export function seal(value: unknown): Buffer {
  return sealBehind(value, 0);
}

/** `prefix` bytes for the caller to fill (packBehind), then `value` sealed: a durable node seals
 * every record and the log every group, each written once. */
export function sealBehind(value: unknown, prefix: number): Buffer {
  const start = prefix + HEADER;
  const out = packBehind(value, start);
  out[prefix] = TAG;
  out.writeUInt32BE(crc32(out.subarray(start)), prefix + 1);
  return out;
}

/** Whether `bytes` is a sealed value at all (as opposed to a format-1 msgpack value). */
export function isSealed(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER && bytes[0] === TAG;
}

/** The value inside a sealed buffer; throws a SealError when the checksum does not match. */
export function unseal(bytes: Uint8Array): unknown {
  if (!isSealed(bytes)) throw new SealError("not a sealed record");
  const body = bytes.subarray(HEADER);
  const expected = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32BE(1);
  if (crc32(body) !== expected) throw new SealError("checksum mismatch");
  try {
    return msgpack.unpack(body);
  } catch (error) {
    throw new SealError(`undecodable record: ${(error as Error).message}`);
  }
}

/** A format-1 value: plain msgpack as the lmdb package wrote it by default. */
export function unpackLegacy(bytes: Uint8Array): unknown {
  return msgpack.unpack(bytes);
}
