import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pack, unpack } from "msgpackr";
import { syntheticRecord } from "../../bench/fleet/synthetic.js";
import { packHlc, RegistryStore } from "../../src/core/mod.js";
import type { MessageCodec } from "../../src/sync/codec.js";
import { PROTOCOL_VERSION, type PullRequest } from "../../src/sync/messages.js";
import { answerPull, maxBatchBytes } from "../../src/sync/pull-server.js";
import { RefusedRequestError, RequestFreshness } from "../../src/sync/request-freshness.js";

const NOW = 1_764_000_000_000;
const codec: MessageCodec = { encode: (m) => pack(m), decode: (b) => unpack(b) };

function storeWith(n: number): RegistryStore {
  const store = new RegistryStore({
    nodeId: "server",
    epoch: "e1",
    wallClock: () => NOW,
    maxClockSkewMs: 5_000,
    tombstoneTtlMs: 86_400_000,
  });
  store.merge(Array.from({ length: n }, (_, i) => syntheticRecord(i, NOW, "server")));
  return store;
}

const request = (extra: Partial<PullRequest> = {}): Uint8Array =>
  codec.encode(
    {
      type: "pull",
      v: PROTOCOL_VERSION,
      node: "client",
      epoch: "e1",
      since: 0,
      maxEntries: 1_000,
      maxBytes: 1 << 20,
      originOnly: false,
      accepts: [],
      nonce: "00112233aabbccdd",
      at: packHlc(NOW, 0),
      ...extra,
    },
    false,
  );

const limits = { batchMaxEntries: 1_000, maxBatchBytes: 1 << 20, maxPayload: 1 << 20 };

describe("the pull server", () => {
  test("serves a batch from the cursor", () => {
    const answer = answerPull(request(), storeWith(10), codec, limits);
    const batch = codec.decode(answer.bytes!) as { type: string; entries: unknown[] };
    assert.equal(batch.type, "batch");
    assert.equal(batch.entries.length, 10);
  });

  test("halves the batch until it fits max_payload", () => {
    const answer = answerPull(request(), storeWith(200), codec, { ...limits, maxPayload: 8_000 });
    assert.ok("halvings" in answer && answer.halvings > 0);
    assert.ok(answer.bytes.length <= 8_000, `${answer.bytes.length} bytes`);
    const batch = codec.decode(answer.bytes!) as { complete: boolean; entries: unknown[] };
    assert.equal(batch.complete, false);
    assert.ok(batch.entries.length > 0);
  });

  test("answers reset to a cursor from another history, a batch to a first pull", () => {
    const store = storeWith(3);
    const reset = codec.decode(answerPull(request({ epoch: "old" }), store, codec, limits).bytes!);
    assert.deepEqual(reset, {
      type: "reset",
      v: PROTOCOL_VERSION,
      node: "server",
      epoch: "e1",
      head: 3,
      nonce: "00112233aabbccdd",
      since: 0,
    });
    const first = codec.decode(answerPull(request({ epoch: "" }), store, codec, limits).bytes!);
    assert.equal((first as { type: string }).type, "batch");
  });

  test("answers an invalid request with an error reply and reports it", () => {
    const answer = answerPull(codec.encode({ type: "pull" }, false), storeWith(1), codec, limits);
    assert.ok("rejected" in answer);
    assert.equal((codec.decode(answer.bytes!) as { type: string }).type, "error");
  });

  test("a replayed or stale request is refused before any batch is built, and not answered", () => {
    const store = storeWith(100);
    const gate = new RequestFreshness({ windowMs: 1_000, wallClock: () => NOW, maxPeers: 8 });
    let encoded = 0;
    const counting: MessageCodec = {
      encode: (m, c) => {
        encoded++;
        return codec.encode(m, c);
      },
      decode: codec.decode,
    };
    const first = answerPull(request(), store, counting, limits, gate);
    assert.ok("halvings" in first, "the fresh request is answered");
    const refusals = [
      answerPull(request(), store, counting, limits, gate),
      answerPull(
        request({ nonce: "0000000000000001", at: packHlc(NOW - 1_001, 0) }),
        store,
        counting,
        limits,
        gate,
      ),
      answerPull(
        request({ nonce: "0000000000000002", at: packHlc(NOW + 1_001, 0) }),
        store,
        counting,
        limits,
        gate,
      ),
    ];
    assert.deepEqual(
      refusals.map((a) =>
        "rejected" in a && a.rejected instanceof RefusedRequestError ? a.rejected.reason : a,
      ),
      ["replayed", "stale", "stale"],
    );
    assert.ok(refusals.every((a) => a.bytes === undefined));
    assert.equal(encoded, 1, "only the fresh request was encoded an answer");
  });

  test("with deflate a batch may hold several times max_payload before encoding", () => {
    assert.equal(maxBatchBytes(64 << 20, 1 << 20, "none"), (1 << 20) - 8 * 1024);
    assert.equal(maxBatchBytes(64 << 20, 1 << 20, "deflate"), (4 << 20) - 8 * 1024);
    assert.equal(maxBatchBytes(512, 1 << 20, "none"), 1024);
  });
});
