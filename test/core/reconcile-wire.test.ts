import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  RECONCILE_PROTOCOL_VERSION,
  ReconcileError,
  ReconcileSession,
  ReconIndex,
  type ReconItem,
  respond,
} from "../../src/core/reconcile/mod.js";

const RUNS = 300;

class Item implements ReconItem {
  k0 = 0;
  k1 = 0;
  constructor(
    readonly service: string,
    readonly id: string,
    readonly h0: number,
    readonly h1: number,
    readonly h2: number,
    readonly h3: number,
  ) {}
}

function indexOf(n: number, offset = 0): ReconIndex<Item> {
  const index = new ReconIndex<Item>();
  for (let i = 0; i < n; i++)
    index.add(new Item("svc", `i-${i}`, i + offset, i * 3, i * 7, i * 11));
  return index;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ReconcileError) return error.code;
    throw error;
  }
  return undefined;
}

describe("reconcile messages", () => {
  const index = indexOf(3_000);
  const query = new ReconcileSession(indexOf(3_000, 1), { salt: 99 }).start();

  it("are plain objects: a version, a type, binary ranges", () => {
    assert.equal(query.v, RECONCILE_PROTOCOL_VERSION);
    assert.equal(query.type, "recon.query");
    assert.ok(query.ranges instanceof Uint8Array);
    const { reply } = respond(index, query);
    assert.equal(reply.type, "recon.reply");
    assert.equal(reply.handled, 1);
  });

  it("refuses a newer protocol version clearly", () => {
    assert.equal(
      codeOf(() => respond(index, { ...query, v: RECONCILE_PROTOCOL_VERSION + 1 })),
      "unsupported_version",
    );
  });

  it("rejects malformed envelopes and parameters", () => {
    assert.equal(
      codeOf(() => respond(index, null)),
      "bad_message",
    );
    assert.equal(
      codeOf(() => respond(index, { ...query, type: "recon.reply" })),
      "bad_message",
    );
    assert.equal(
      codeOf(() => respond(index, { ...query, salt: -1 })),
      "bad_message",
    );
    assert.equal(
      codeOf(() => respond(index, { ...query, ranges: "nope" })),
      "bad_message",
    );
    assert.equal(
      codeOf(() => respond(index, { ...query, params: [9, 4, 32, 256] })),
      "bad_params",
    );
    assert.equal(
      codeOf(() => respond(index, { ...query, params: [4, 5, 32, 256] })),
      "bad_params",
    );
    assert.equal(
      codeOf(() => respond(index, query, { maxMessageBytes: 1_000 })),
      "bad_params",
    );
    assert.equal(
      codeOf(() => new ReconcileSession(index, { salt: 1, maxMessageBytes: 100 })),
      "bad_params",
    );
  });

  it("rejects every truncation of a query's ranges, or answers it as a shorter valid query", () => {
    for (let cut = 0; cut < query.ranges.length; cut++) {
      const code = codeOf(() =>
        respond(index, { ...query, ranges: query.ranges.subarray(0, cut) }),
      );
      assert.ok(code === undefined || code === "bad_message", `cut at ${cut}: ${code}`);
    }
  });

  it("never throws anything but a ReconcileError on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (ranges) => {
        const code = codeOf(() => respond(index, { ...query, ranges }));
        assert.ok(code === undefined || code === "bad_message" || code === "range_too_large");
      }),
      { numRuns: RUNS },
    );
  });

  it("rejects a reply that answers nothing or more than was asked", () => {
    const session = new ReconcileSession(indexOf(100), { salt: 5 });
    const q = session.start();
    const { reply } = respond(index, q);
    assert.equal(
      codeOf(() => session.process({ ...reply, handled: 2 })),
      "bad_message",
    );
    assert.equal(
      codeOf(() => session.process({ ...reply, handled: 0 })),
      "bad_message",
    );
    session.process(reply);
    assert.equal(
      codeOf(() => session.start()),
      "session_misuse",
    );
  });
});
