import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32 } from "node:zlib";
import { Packr } from "msgpackr";
import { seal, sealBehind, unseal } from "../../src/storage/sealed.js";

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** The layout every data directory since format 2 holds: tag, CRC-32 of the msgpack, msgpack. */
function sealedByHand(value: unknown): Buffer {
  const body = packr.pack(value);
  const header = Buffer.alloc(5);
  header[0] = 0xc1;
  header.writeUInt32BE(crc32(body), 1);
  return Buffer.concat([header, body]);
}

const values = Array.from({ length: 2_000 }, (_, i) => ({
  seq: i,
  body: `{"host":"10.0.${i % 256}.1","port":${8000 + i}}`.repeat(1 + (i % 7)),
  tags: { zone: `z${i % 3}` },
}));

test("sealed values are byte for byte the on-disk layout, however many share a buffer", () => {
  // Thousands in a row: msgpackr packs them into shared buffers, and each must stay intact.
  const sealed = values.map((v) => seal(v));
  sealed.forEach((bytes, i) => {
    assert.deepEqual(bytes, sealedByHand(values[i]), `value ${i}`);
    assert.deepEqual(unseal(bytes), values[i]);
  });
});

test("sealBehind leaves the prefix to the caller and seals the value after it", () => {
  const big = { value: "x".repeat(20_000) }; // larger than msgpackr's first buffer
  for (const value of [values[1], big]) {
    const out = sealBehind(value, 4);
    assert.deepEqual(out.subarray(4), sealedByHand(value));
    assert.deepEqual(unseal(out.subarray(4)), value);
  }
  assert.throws(() => sealBehind(values[0], 251), RangeError, "more room than msgpackr leaves");
});
