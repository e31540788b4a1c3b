/**
 * Hand-made sync envelopes for attacks: format 1, deflated, unsigned, with a declared size the
 * payload need not honour (bench/scenarios/attacks.ts, test/sync/decompression-bombs.test.ts).
 */
export function deflatedEnvelope(payload: Uint8Array, declared: number, crc: number): Uint8Array {
  const out = new Uint8Array(12 + payload.length);
  const view = new DataView(out.buffer);
  out.set([0x52, 0x53, 1, 1]);
  view.setUint32(4, declared);
  view.setUint32(8, crc);
  out.set(payload, 12);
  return out;
}
