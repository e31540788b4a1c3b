import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { crc32, deflateRawSync } from "node:zlib";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { createServer } from "nkeys.js";
import {
  decodeEnvelope,
  EnvelopeError,
  encodeEnvelope,
  FORMAT_VERSION,
  inflateChunkBytes,
} from "../../src/wire/envelope.js";
import { NodeIdentity, TrustedPeers } from "../../src/wire/identity.js";

const LIMIT = { maxBodyBytes: 1 << 20 };
const entries = Array.from({ length: 300 }, (_, i) => [
  "svc",
  `id-${i}`,
  1_000 + i,
  "n1",
  `{"host":"10.0.0.${i % 255}","port":8080}`,
]);

function rejects(
  bytes: Uint8Array,
  reason: string,
  options: Parameters<typeof decodeEnvelope>[1] = LIMIT,
): EnvelopeError {
  try {
    decodeEnvelope(bytes, options);
  } catch (error) {
    assert.ok(error instanceof EnvelopeError, String(error));
    assert.equal(error.reason, reason, error.message);
    return error;
  }
  assert.fail(`expected ${reason}`);
}

const seed = () => new TextDecoder().decode(createServer().getSeed());

describe("sync envelope", () => {
  test("round trips: small stays plain, large is deflated, binary survives", () => {
    const small = encodeEnvelope(
      { type: "x", n: 1 },
      { compress: true, compressionThreshold: 1_024 },
    );
    assert.equal(small.compressed, false);
    assert.deepEqual(decodeEnvelope(small.bytes, LIMIT).message, { type: "x", n: 1 });
    const large = encodeEnvelope(
      { entries, bin: new Uint8Array([1, 2, 3]) },
      { compress: true, compressionThreshold: 1_024 },
    );
    assert.equal(large.compressed, true);
    assert.ok(large.bytes.length < large.rawBytes / 3);
    const back = decodeEnvelope(large.bytes, LIMIT).message as {
      entries: unknown;
      bin: Uint8Array;
    };
    assert.deepEqual(back.entries, entries);
    assert.deepEqual([...back.bin], [1, 2, 3]);
    const refused = encodeEnvelope({ entries }, { compress: false, compressionThreshold: 1_024 });
    assert.equal(refused.compressed, false, "not compressed for a peer that does not accept it");
  });

  test("any single flipped byte of a plain envelope is rejected (1,000 cases)", () => {
    const plain = encodeEnvelope(
      { entries: entries.slice(0, 5) },
      { compress: false, compressionThreshold: 0 },
    ).bytes;
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        const bytes = Uint8Array.from(plain);
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ mask;
        assert.throws(() => decodeEnvelope(bytes, LIMIT), EnvelopeError);
      }),
      { numRuns: 1_000 },
    );
  });

  test("a flipped byte of a deflated envelope is rejected or leaves the body intact", () => {
    // The checksum covers the body (DESIGN.md §4): a flip in the deflate stream's block header
    // (a code length of a symbol the block never uses) can inflate to the same body bit for
    // bit, which is no corruption of the data. Every other flip must be refused.
    const packed = encodeEnvelope({ entries }, { compress: true, compressionThreshold: 0 }).bytes;
    let intact = 0;
    let refused = 0;
    for (let i = 0; i < packed.length; i++) {
      for (const mask of [0x01, 0x10, 0x90, 0xff]) {
        const bytes = Uint8Array.from(packed);
        bytes[i] = bytes[i]! ^ mask;
        try {
          const { message } = decodeEnvelope(bytes, LIMIT);
          assert.deepEqual(message, { entries }, `byte ${i} ^ ${mask} changed the message`);
          intact++;
        } catch (error) {
          assert.ok(error instanceof EnvelopeError, String(error));
          refused++;
        }
      }
    }
    assert.ok(intact < 0.01 * (intact + refused), `${intact} flips inflated to the same body`);
  });

  test("every rejection has its reason", () => {
    const good = encodeEnvelope({ entries }, { compress: true, compressionThreshold: 0 }).bytes;
    rejects(good.subarray(0, 5), "truncated");
    const magic = Uint8Array.from(good);
    magic[0] = 0;
    rejects(magic, "bad_magic");
    const newer = Uint8Array.from(good);
    newer[2] = FORMAT_VERSION + 1;
    assert.match(
      rejects(newer, "unsupported_version").message,
      new RegExp(`v${FORMAT_VERSION + 1}.*v${FORMAT_VERSION}`),
    );
    rejects(good, "too_large", { maxBodyBytes: 100 });
    const garbage = Uint8Array.from(good);
    garbage.fill(0xff, 12);
    rejects(garbage, "decompress_failed");
    const shortBody = Uint8Array.from(good);
    new DataView(shortBody.buffer).setUint32(4, 10);
    rejects(shortBody, "length_mismatch");
    const plain = Uint8Array.from(
      encodeEnvelope({ a: 1 }, { compress: false, compressionThreshold: 0 }).bytes,
    );
    plain[8] = plain[8]! ^ 1;
    rejects(plain, "checksum_mismatch");
    const header = encodeEnvelope(
      { a: 1 },
      { compress: false, compressionThreshold: 0 },
    ).bytes.subarray(0, 12);
    const truncatedMsgpack = new Uint8Array([0x92, 0x01]); // an array of two holding one item
    const broken = new Uint8Array([...header, ...truncatedMsgpack]);
    new DataView(broken.buffer).setUint32(4, truncatedMsgpack.length);
    new DataView(broken.buffer).setUint32(8, crc32(truncatedMsgpack));
    rejects(broken, "malformed_body");
    const flagged = Uint8Array.from(good);
    flagged[3] = flagged[3]! | 0x80;
    rejects(flagged, "bad_header");
  });

  test("a decompression bomb is refused without inflating it", () => {
    const bomb = deflateRawSync(Buffer.alloc(200 << 20));
    const envelope = new Uint8Array(12 + bomb.length);
    envelope.set([0x52, 0x53, FORMAT_VERSION, 1]);
    new DataView(envelope.buffer).setUint32(4, 1_024);
    envelope.set(bomb, 12);
    // Inflating it would take 200 MB; zlib stops at the declared 1 KiB instead.
    const before = process.memoryUsage().rss;
    rejects(envelope, "length_mismatch");
    assert.ok(process.memoryUsage().rss - before < 50 << 20, "memory stayed bounded");
    new DataView(envelope.buffer).setUint32(4, 200 << 20);
    rejects(envelope, "too_large");
  });

  test("signatures: trusted accepted; unsigned, untrusted and tampered rejected", () => {
    const me = NodeIdentity.fromSeed(seed());
    const stranger = NodeIdentity.fromSeed(seed());
    const trusted = { ...LIMIT, trustedPeers: new TrustedPeers([me.publicKey]) };
    const signed = encodeEnvelope(
      { entries },
      { compress: true, compressionThreshold: 0, identity: me },
    ).bytes;
    assert.deepEqual(
      (decodeEnvelope(signed, trusted).message as { entries: unknown }).entries,
      entries,
    );
    rejects(
      encodeEnvelope({ a: 1 }, { compress: false, compressionThreshold: 0 }).bytes,
      "unsigned",
      trusted,
    );
    rejects(
      encodeEnvelope({ a: 1 }, { compress: false, compressionThreshold: 0, identity: stranger })
        .bytes,
      "untrusted_signer",
      trusted,
    );
    const tampered = Uint8Array.from(signed);
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
    rejects(tampered, "bad_signature", trusted);
    assert.throws(() => NodeIdentity.fromSeed("SNNOTASEED"), /not a valid nkey seed/);
    assert.throws(() => new TrustedPeers(["Nnope"]), /not a valid node public nkey/);
  });
});

describe("envelopes packed in place", () => {
  test("envelopes kept together stay intact, and a plain one is the layout built by hand", () => {
    const me = NodeIdentity.fromSeed(seed());
    const trusted = { ...LIMIT, trustedPeers: new TrustedPeers([me.publicKey]) };
    const messages = Array.from({ length: 2_000 }, (_, i) => ({
      seq: i,
      // Every 500th larger than msgpackr's first buffer (all 300 entries, ~12 KB).
      entries: entries.slice(0, i % 500 === 0 ? 300 : i % 40),
    }));
    // Thousands in a row: msgpackr packs them into shared buffers, and each must stay intact.
    const plain = messages.map(
      (m) => encodeEnvelope(m, { compress: false, compressionThreshold: 0 }).bytes,
    );
    const signed = messages.map(
      (m) => encodeEnvelope(m, { compress: false, compressionThreshold: 0, identity: me }).bytes,
    );
    const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
    messages.forEach((m, i) => {
      const body = packr.pack(m);
      const byHand = new Uint8Array(12 + body.length);
      const view = new DataView(byHand.buffer);
      byHand.set([0x52, 0x53, FORMAT_VERSION, 0]); // "RS", version, no flags
      view.setUint32(4, body.length);
      view.setUint32(8, crc32(body));
      byHand.set(body, 12);
      assert.deepEqual(Uint8Array.from(plain[i]!), byHand, `message ${i}`);
      assert.deepEqual(decodeEnvelope(signed[i]!, trusted).message, m);
    });
  });
});

describe("bounded inflation", () => {
  test("a tiny payload declaring a huge body is inflated in small chunks, never the declared size", () => {
    assert.equal(inflateChunkBytes(64 << 20, 2), 64 * 1024);
    assert.equal(inflateChunkBytes(64 << 20, 65_000), 65_000 * 16);
    // An honest batch (2 MiB deflated 8×) still inflates into one buffer.
    assert.equal(inflateChunkBytes(2 << 20, 256 << 10), 2 << 20);
    assert.equal(inflateChunkBytes(10, 5), 64);
  });

  test("a decompression bomb is refused before anything is inflated", () => {
    const zeros = new Uint8Array(16 << 20);
    const payload = deflateRawSync(zeros, { level: 9 });
    const bomb = new Uint8Array(12 + payload.length);
    bomb.set([0x52, 0x53, FORMAT_VERSION, 1]);
    new DataView(bomb.buffer).setUint32(4, zeros.length);
    new DataView(bomb.buffer).setUint32(8, crc32(zeros));
    bomb.set(payload, 12);
    assert.throws(
      () => decodeEnvelope(bomb, { maxBodyBytes: 64 << 20 }),
      (e: unknown) => e instanceof EnvelopeError && e.reason === "too_large",
    );
  });
});
