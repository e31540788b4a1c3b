import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fullJitterDelay, periodicInterval } from "../../src/sync/backoff.js";
import { PeerState } from "../../src/sync/peer.js";

describe("backoff", () => {
  test("full jitter stays within [0, min(max, base·2^attempt))", () => {
    for (let attempt = 0; attempt < 40; attempt++) {
      const ceiling = Math.min(10_000, 100 * 2 ** attempt);
      assert.equal(
        fullJitterDelay(attempt, 100, 10_000, () => 0),
        0,
      );
      assert.equal(
        fullJitterDelay(attempt, 100, 10_000, () => 0.999999),
        Math.floor(0.999999 * ceiling),
      );
    }
  });

  test("the periodic interval is jittered ±10% and stretches past 32 nodes", () => {
    assert.equal(
      periodicInterval(1_000, 5, () => 0),
      900,
    );
    assert.equal(
      periodicInterval(1_000, 5, () => 1),
      1_100,
    );
    assert.equal(
      periodicInterval(1_000, 32, () => 0.5),
      1_000,
    );
    assert.equal(
      periodicInterval(1_000, 64, () => 0.5),
      2_000,
    );
    assert.equal(
      periodicInterval(1_000, 1_024, () => 0.5),
      6_000,
    );
  });
});

describe("peer state", () => {
  test("an epoch change voids the cursor", () => {
    const peer = new PeerState("p");
    assert.equal(peer.onAnnounce("e1", 10, "d", 5, 1), true);
    peer.onPullSuccess(10, 10, 2, 1);
    assert.equal(peer.behind, false);
    assert.equal(peer.onAnnounce("e1", 12, "d", 5, 3), false);
    assert.equal(peer.behind, true);
    assert.equal(peer.onAnnounce("e2", 3, "d", 5, 4), true);
    assert.equal(peer.cursor, 0);
    assert.equal(peer.announcedSeq, 3);
  });

  test("failures make a peer suspect; an announcement or a success clears it", () => {
    const peer = new PeerState("p");
    peer.onAnnounce("e", 5, "d", 1, 0);
    assert.equal(peer.onPullFailure(10, 3), false);
    assert.equal(peer.state, "retrying");
    assert.equal(peer.onPullFailure(20, 3), false);
    assert.equal(peer.onPullFailure(30, 3), true);
    assert.equal(peer.state, "suspect");
    assert.equal(peer.onPullFailure(40, 3), false, "already suspect");
    peer.onAnnounce("e", 6, "d", 1, 50);
    assert.notEqual(peer.state, "suspect");
    peer.onPullSuccess(6, 6, 60, 2);
    assert.equal(peer.state, "healthy");
    assert.equal(peer.totalFailures, 4);
  });

  test("liveness: silent for longer than the window, or leaving, is gone", () => {
    const peer = new PeerState("p");
    peer.onAnnounce("e", 1, "d", 1, 1_000);
    assert.equal(peer.isAlive(1_500, 1_000), true);
    assert.equal(peer.isAlive(2_001, 1_000), false);
    assert.equal(peer.onLeaving("e", 2), true);
    assert.equal(peer.isAlive(1_500, 1_000), false);
    assert.equal(peer.state, "left");
  });
});
