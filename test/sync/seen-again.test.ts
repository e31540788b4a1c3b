import assert from "node:assert/strict";
import { test } from "node:test";
import { type Announce, PROTOCOL_VERSION } from "../../src/sync/messages.js";
import type { PeerState } from "../../src/sync/peer.js";
import { type PeerAction, PeerTable } from "../../src/sync/peer-table.js";
import { SilenceWatch } from "../../src/sync/silence-watch.js";
import { VirtualTimers } from "../../src/sync/virtual-timers.js";

const DIGEST_A = "a".repeat(32);
const DIGEST_B = "b".repeat(32);

/** Each announcement newer than the one before, as a peer's stamps are. */
let stamp = 0;

function announce(seq: number, digest: string): Announce {
  const at = ++stamp;
  return {
    type: "announce",
    v: PROTOCOL_VERSION,
    node: "p",
    epoch: "e",
    seq,
    digest,
    count: 1,
    accepts: [],
    at,
  };
}

/** An announcement the table took (a refused one fails the test). */
function taken(outcome: ReturnType<PeerTable["onAnnounce"]>): {
  actions: PeerAction[];
  peer: PeerState;
} {
  assert.ok(!("refused" in outcome), "announcement refused");
  return outcome;
}

test("a peer heard again after silence is answered at once, and reconciled with when it differs", () => {
  const table = new PeerTable();
  const local = { seq: 5, digest: DIGEST_A, overdueMs: 1_000 };
  table.onAnnounce(announce(3, DIGEST_A), undefined, 1_000, local);
  table.get("p")!.advanceTo("e", 3); // pulled: caught up with its log
  // Within the period: nothing to do.
  assert.deepEqual(
    taken(table.onAnnounce(announce(3, DIGEST_A), undefined, 1_500, local)).actions,
    [],
  );
  // After a silence, same log position but a different state: writes crossed no route.
  const { actions, peer } = taken(table.onAnnounce(announce(3, DIGEST_B), undefined, 6_000, local));
  assert.deepEqual(
    actions.map((a) => a.type),
    ["answer", "sync"],
  );
  assert.equal(peer.reconcilePending, true);
});

test("while a peer is overdue the node announces every quarter second, and stops once it is back", async () => {
  const timers = new VirtualTimers(7);
  const table = new PeerTable();
  const local = { seq: 1, digest: DIGEST_A, overdueMs: 2_000 };
  table.onAnnounce(announce(1, DIGEST_A), undefined, timers.now(), local);
  let announced = 0;
  const watch = new SilenceWatch(
    timers,
    () => 2_000,
    () => table.values(),
    () => announced++,
  );
  watch.start();
  await timers.runFor(2_000);
  assert.equal(announced, 0, "not overdue yet");
  await timers.runFor(1_000);
  assert.ok(
    announced >= 2,
    `announced ${announced} times in the second after the peer fell silent`,
  );
  table.onAnnounce(announce(1, DIGEST_A), undefined, timers.now(), local);
  const before = announced;
  await timers.runFor(1_000);
  assert.equal(announced, before, "the peer is back: periodic announcements suffice");
  watch.stop();
});
