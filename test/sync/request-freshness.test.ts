import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { packHlc } from "../../src/core/mod.js";
import { InvalidMessageError, PullRequestSchema, parseMessage } from "../../src/sync/messages.js";
import {
  MAX_NONCES_PER_PEER,
  RefusedRequestError,
  RequestFreshness,
} from "../../src/sync/request-freshness.js";

const WINDOW = 1_000;

function gate(clock: { now: number }, maxPeers = 4): RequestFreshness {
  return new RequestFreshness({ windowMs: WINDOW, wallClock: () => clock.now, maxPeers });
}

function refusal(run: () => void): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    assert.ok(error instanceof RefusedRequestError);
    return error.reason;
  }
}

const nonceOf = (i: number) => i.toString(16).padStart(16, "0");

describe("request freshness", () => {
  test("admits a stamp within the window either way, refuses one beyond it as stale", () => {
    const clock = { now: 1_000_000 };
    const g = gate(clock);
    const at = (offset: number) => packHlc(clock.now + offset, 0);
    assert.equal(
      refusal(() => g.admit({ node: "a", nonce: nonceOf(1), at: at(-WINDOW) })),
      undefined,
    );
    assert.equal(
      refusal(() => g.admit({ node: "a", nonce: nonceOf(2), at: at(WINDOW) })),
      undefined,
    );
    assert.equal(
      refusal(() => g.admit({ node: "a", nonce: nonceOf(3), at: at(-WINDOW - 1) })),
      "stale",
    );
    assert.equal(
      refusal(() => g.admit({ node: "a", nonce: nonceOf(4), at: at(WINDOW + 1) })),
      "stale",
    );
  });

  test("a nonce is refused as replayed for as long as its stamp is fresh, per peer", () => {
    const clock = { now: 1_000_000 };
    const g = gate(clock);
    // Stamped a window ahead: fresh until two windows from now, so remembered that long.
    const request = { node: "a", nonce: nonceOf(7), at: packHlc(clock.now + WINDOW, 0) };
    g.admit(request);
    assert.equal(
      refusal(() => g.admit({ ...request, node: "b" })),
      undefined,
      "another peer's nonce",
    );
    for (let t = 0; t <= 2 * WINDOW; t += 50) {
      clock.now = 1_000_000 + t;
      assert.equal(
        refusal(() => g.admit(request)),
        "replayed",
        `at +${t} ms`,
      );
    }
    clock.now += 1;
    assert.equal(
      refusal(() => g.admit(request)),
      "stale",
    );
  });

  test("memory is bounded: nonces per peer and peers", () => {
    const clock = { now: 1_000_000 };
    const g = gate(clock, 2);
    const at = packHlc(clock.now, 0);
    for (let i = 0; i < MAX_NONCES_PER_PEER; i++) g.admit({ node: "a", nonce: nonceOf(i), at });
    assert.equal(
      refusal(() => g.admit({ node: "a", nonce: nonceOf(MAX_NONCES_PER_PEER), at })),
      "too_many_requests",
    );
    g.admit({ node: "b", nonce: nonceOf(1), at });
    assert.equal(
      refusal(() => g.admit({ node: "c", nonce: nonceOf(1), at })),
      "too_many_requests",
    );
    // Four windows later every nonce is past its stamp's window: quiet peers make room.
    clock.now += 4 * WINDOW;
    const later = packHlc(clock.now, 0);
    assert.equal(
      refusal(() => g.admit({ node: "c", nonce: nonceOf(1), at: later })),
      undefined,
    );
    assert.equal(
      refusal(() => g.admit({ node: "a", nonce: nonceOf(0), at: later })),
      undefined,
    );
  });

  test("a v2 peer, whose requests carry no stamp, is refused by name", () => {
    assert.throws(
      () =>
        parseMessage(PullRequestSchema, {
          type: "pull",
          v: 2,
          node: "old",
          epoch: "",
          since: 0,
          maxEntries: 10,
          maxBytes: 4096,
          originOnly: true,
          nonce: nonceOf(1),
          at: 0,
        }),
      (e: unknown) =>
        e instanceof InvalidMessageError &&
        /node old speaks sync protocol v2.*requests carry a fresh stamp and nonce since v3.*upgrade/.test(
          e.message,
        ),
    );
  });
});
