import assert from "node:assert/strict";
import { test } from "node:test";
import type { Announce } from "../../src/sync/messages.js";
import { PeerState } from "../../src/sync/peer.js";
import { PeerTable } from "../../src/sync/peer-table.js";

const LIVENESS = 1_000;
const LOCAL = { seq: 0, digest: "d" };

/** Announcement stamps only grow: a replayed (not newer) one is refused as stale. */
let stamp = 0;

function announce(node: string, extra: Partial<Announce> = {}): Announce {
  return {
    type: "announce",
    v: 2,
    at: ++stamp,
    node,
    epoch: "e",
    seq: 0,
    digest: "d",
    count: 0,
    accepts: [],
    ...extra,
  } as Announce;
}

test("a peer that stops announcing turns silent, not healthy forever", () => {
  const peer = new PeerState("p");
  peer.onAnnounce("e", 1, "d", 1, 10_000);
  assert.equal(peer.stateAt(10_900, LIVENESS), "healthy");
  assert.equal(peer.stateAt(11_001, LIVENESS), "silent");
  assert.equal(peer.goneForMs(13_000, LIVENESS), 2_000);
  // It speaks again: healthy at once.
  peer.onAnnounce("e", 2, "d", 1, 13_000);
  assert.equal(peer.stateAt(13_000, LIVENESS), "healthy");
  assert.equal(peer.goneForMs(13_000, LIVENESS), 0);
});

test("suspect and left are kept; a peer only known from a saved cursor is silent", () => {
  const peer = new PeerState("p");
  peer.onAnnounce("e", 1, "d", 1, 0);
  for (let i = 0; i < 3; i++) peer.onPullFailure(100, 3);
  assert.equal(peer.stateAt(200, LIVENESS), "suspect");
  peer.onLeaving("e", Number.MAX_SAFE_INTEGER, 300);
  assert.equal(peer.stateAt(300, LIVENESS), "left");
  assert.equal(peer.goneForMs(800, LIVENESS), 500);
  assert.equal(PeerState.resumed("q", "e", 5).stateAt(50_000, LIVENESS), "silent");
});

test("left and silent peers are forgotten after the grace period, live ones never", () => {
  const table = new PeerTable();
  table.onAnnounce(announce("alive"), undefined, 0, LOCAL);
  table.onAnnounce(announce("killed"), undefined, 0, LOCAL);
  table.onAnnounce(announce("leaver"), undefined, 0, LOCAL);
  table.onAnnounce(announce("leaver", { leaving: true }), undefined, 500, LOCAL);
  table.onAnnounce(announce("alive"), undefined, 5_000, LOCAL);
  assert.deepEqual(table.stateCounts(5_000, LIVENESS), {
    healthy: 1,
    retrying: 0,
    suspect: 0,
    silent: 1,
    left: 1,
  });
  // The leaver went quiet at 500, the killed peer at 1_000 (last seen at 0, plus liveness).
  assert.deepEqual(table.forgetGone(5_000, LIVENESS, 4_500), []);
  assert.deepEqual(table.forgetGone(5_001, LIVENESS, 4_500), ["leaver"]);
  assert.deepEqual(table.forgetGone(5_501, LIVENESS, 4_500), ["killed"]);
  assert.deepEqual(
    [...table.values()].map((p) => p.id),
    ["alive"],
  );
});
