/**
 * How sync messages become bytes and back: the envelope of src/wire (msgpack, deflate, checksum,
 * signature, format version) with the node's settings bound in. An interface so the engine's
 * tests can count and corrupt bytes in flight.
 */
export interface SyncCodec {
  /** Encodes a message; `compress` says the receiver accepts deflate. */
  encode(message: object, compress: boolean): { bytes: Uint8Array; rawBytes: number };
  /** Decodes and verifies; throws an EnvelopeError (with a `reason`) on any defect. */
  decode(bytes: Uint8Array): { message: unknown; rawBytes: number };
  /** Every message decoded is signed by a trusted key for the node it names: only then is a
   * request's freshness worth checking (an unsigned one anybody can forge fresh). */
  readonly authenticates?: boolean;
}

/** Encodes and decodes sync messages, counting the bytes at both stages. */
export interface MessageCodec {
  /** `compress`: the receiver accepts deflate (and this node compresses at all). */
  encode(message: object, compress: boolean): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/** The node's codec with its compression setting bound in and its byte counts reported. */
export function meteredCodec(
  codec: SyncCodec,
  metrics: { bytes(direction: "in" | "out", stage: "raw" | "wire", count: number): void },
  compression: "deflate" | "none",
): MessageCodec {
  return {
    encode: (message, compress) => {
      const { bytes, rawBytes } = codec.encode(message, compress && compression === "deflate");
      metrics.bytes("out", "raw", rawBytes);
      metrics.bytes("out", "wire", bytes.length);
      return bytes;
    },
    decode: (bytes) => {
      metrics.bytes("in", "wire", bytes.length);
      const { message, rawBytes } = codec.decode(bytes);
      metrics.bytes("in", "raw", rawBytes);
      return message;
    },
  };
}
