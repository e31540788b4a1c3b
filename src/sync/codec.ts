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
}
