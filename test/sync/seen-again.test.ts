import assert from "node:assert/strict";
import { test } from "node:test";
import { type Announce, PROTOCOL_VERSION } from "../../src/sync/messages.js";
import type { PeerState } from "../../src/sync/peer.js";
import { type PeerAction, PeerTable } from "../../src/sync/peer-table.js";
import { ECHO_WINDOW_MS, SilenceWatch } from "../../src/sync/silence-watch.js";
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
  const { timers, table, local, watch, announced } = watchedPeer(2_000);
  await timers.runFor(2_000);
  assert.equal(announced(), 0, "not overdue yet");
  await timers.runFor(1_000);
  assert.ok(
    announced() >= 2,
    `announced ${announced()} times in the second after the peer fell silent`,
  );
  table.onAnnounce(announce(1, DIGEST_A), undefined, timers.now(), local);
  const before = announced();
  await timers.runFor(1_000);
  assert.equal(announced(), before, "the peer is back: periodic announcements suffice");
  watch.stop();
});

/** One peer heard once, and a silence watch counting the announcements it asks for. */
function watchedPeer(overdueMs: number) {
  const timers = new VirtualTimers(7);
  const table = new PeerTable();
  const local = { seq: 1, digest: DIGEST_A, overdueMs };
  table.onAnnounce(announce(1, DIGEST_A), undefined, timers.now(), local);
  let announced = 0;
  const watch = new SilenceWatch(
    timers,
    () => overdueMs,
    () => table.values(),
    () => announced++,
  );
  watch.start();
  return { timers, table, local, watch, announced: () => announced };
}

test("a peer not heard within a second of our writes' announcement is announced to every quarter second until it answers", async () => {
  // A period far longer than the test: the peer is never overdue here.
  const { timers, table, local, watch, announced } = watchedPeer(60_000);
  table.get("p")!.awaitEcho(timers.now());
  await timers.runFor(ECHO_WINDOW_MS);
  assert.equal(announced(), 0, "the peer may still answer");
  await timers.runFor(1_000);
  assert.ok(
    announced() >= 3,
    `announced ${announced()} times in the second after the echo was due`,
  );
  // The peer's merged digest arrives: the route holds, nothing more to send.
  table.onAnnounce(announce(2, DIGEST_A), undefined, timers.now(), local);
  assert.equal(table.get("p")!.echoAwaitedSinceMs, 0);
  const before = announced();
  await timers.runFor(2_000);
  assert.equal(announced(), before, "answered: periodic announcements suffice");
  watch.stop();
});
