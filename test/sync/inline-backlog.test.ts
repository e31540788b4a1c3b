import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { syntheticRecord } from "../../bench/fleet/synthetic.js";
import type { EntryRecord } from "../../src/core/mod.js";
import { type Announce, PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { MAX_QUEUED_INLINE_ANNOUNCEMENTS } from "../../src/sync/peer.js";
import { type PeerAction, PeerTable } from "../../src/sync/peer-table.js";

const local = { seq: 0, digest: "0".repeat(32) };
/** The peer's announcement stamps: each announcement is newer than the one before. */
let stamp = 0;

/** The actions of an announcement the table took (a refused one fails the test). */
function actionsOf(outcome: ReturnType<PeerTable["onAnnounce"]>): PeerAction[] {
  assert.ok(!("refused" in outcome), "announcement refused");
  return outcome.actions;
}

function announce(from: number, seq: number, epoch = "e1"): Announce {
  return {
    type: "announce",
    v: PROTOCOL_VERSION,
    node: "p",
    epoch,
    seq,
    digest: "a".repeat(32),
    count: seq,
    from,
    entries: [],
    accepts: [],
    at: ++stamp,
  };
}

function records(from: number, seq: number): EntryRecord[] {
  const out: EntryRecord[] = [];
  for (let i = from; i < seq; i++) out.push(syntheticRecord(i, 1_000_000, "p"));
  return out;
}

/** A table that has applied the peer's inline changes up to `seq` 1 and is applying (1, 2]. */
function applying(): PeerTable {
  const table = new PeerTable();
  table.onAnnounce({ ...announce(0, 1), from: undefined, entries: undefined }, undefined, 1, local);
  const peer = table.get("p")!;
  peer.onPullSuccess(1, 1, 0, 1);
  const actions = actionsOf(table.onAnnounce(announce(1, 2), records(1, 2), 1, local));
  assert.deepEqual(
    actions.map((a) => a.type),
    ["apply-inline"],
  );
  assert.equal(peer.beginInline(2), true);
  return table;
}

describe("inline announcements while a commit runs", () => {
  test("are held back and handed over as one batch, not dropped to a pull", () => {
    const table = applying();
    const peer = table.get("p")!;
    for (let seq = 3; seq <= 6; seq++) {
      const actions = actionsOf(
        table.onAnnounce(announce(seq - 1, seq), records(seq - 1, seq), seq, local),
      );
      assert.deepEqual(actions, [], `announcement of seq ${seq} starts nothing`);
    }
    const batch = peer.takeQueuedInline();
    assert.equal(batch?.seq, 6);
    assert.equal(batch?.records.length, 4);
    assert.equal(peer.takeQueuedInline(), undefined);
    assert.equal(peer.advanceTo("e1", 6), true);
    peer.endPulling();
    assert.equal(peer.behind, false);
  });

  test("a gap, a new epoch, a periodic announcement or a full backlog falls back to pulling", () => {
    const gap = applying();
    assert.deepEqual(
      actionsOf(gap.onAnnounce(announce(3, 4), records(3, 4), 2, local)).map((a) => a.type),
      ["sync"],
    );
    assert.equal(gap.get("p")!.takeQueuedInline(), undefined);

    const reset = applying();
    reset.onAnnounce(announce(2, 3), records(2, 3), 2, local);
    const actions = actionsOf(reset.onAnnounce(announce(0, 1, "e2"), records(0, 1), 3, local));
    assert.ok(actions.some((a) => a.type === "new-history"));
    assert.equal(
      reset.get("p")!.takeQueuedInline(),
      undefined,
      "the old history's backlog is gone",
    );

    const periodic = applying();
    assert.deepEqual(
      actionsOf(
        periodic.onAnnounce({ ...announce(2, 3), periodic: true }, records(2, 3), 2, local),
      ).map((a) => a.type),
      ["sync"],
      "a periodic announcement keeps its digest check",
    );

    const full = applying();
    for (let i = 0; i < MAX_QUEUED_INLINE_ANNOUNCEMENTS; i++)
      full.onAnnounce(announce(2 + i, 3 + i), [], 3, local);
    const last = 2 + MAX_QUEUED_INLINE_ANNOUNCEMENTS;
    assert.deepEqual(
      actionsOf(full.onAnnounce(announce(last, last + 1), [], 4, local)).map((a) => a.type),
      ["sync"],
    );
  });

  test("ending the apply (a failed commit) drops the backlog, so the entries are pulled", () => {
    const table = applying();
    const peer = table.get("p")!;
    table.onAnnounce(announce(2, 3), records(2, 3), 2, local);
    peer.endPulling();
    assert.equal(peer.takeQueuedInline(), undefined);
    assert.equal(peer.behind, true);
  });
});
