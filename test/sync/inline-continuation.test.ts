import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { syntheticRecord } from "../../bench/fleet/synthetic.js";
import type { EntryRecord } from "../../src/core/mod.js";
import { type Announce, PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { MAX_INLINE_IN_FLIGHT } from "../../src/sync/peer.js";
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
  test("are applied at once, each continuing the last, not dropped to a pull", () => {
    const table = applying();
    const peer = table.get("p")!;
    for (let seq = 3; seq <= 6; seq++) {
      const actions = actionsOf(
        table.onAnnounce(announce(seq - 1, seq), records(seq - 1, seq), seq, local),
      );
      assert.deepEqual(
        actions.map((a) => [a.type, a.type === "apply-inline" && a.continues]),
        [["apply-inline", true]],
        `announcement of seq ${seq} continues the apply running`,
      );
    }
    // The cursor moves only as commits complete, and the peer stays claimed meanwhile; what
    // read-your-writes waits for is what was merged.
    assert.equal(peer.cursor, 1);
    assert.equal(peer.heldThrough, 6);
    assert.equal(peer.pulling, true);
    for (let seq = 2; seq <= 6; seq++) {
      assert.equal(peer.advanceTo("e1", seq), true);
      peer.inlineSettled();
    }
    peer.endPulling();
    assert.equal(peer.behind, false);
    assert.equal(peer.heldThrough, 6);
  });

  test("a gap, a new epoch, a periodic announcement or too many in flight falls back to pulling", () => {
    const typesOf = (outcome: ReturnType<PeerTable["onAnnounce"]>) =>
      actionsOf(outcome).map((a) => a.type);
    const gap = applying();
    assert.deepEqual(typesOf(gap.onAnnounce(announce(3, 4), records(3, 4), 2, local)), ["sync"]);

    const reset = applying();
    reset.onAnnounce(announce(2, 3), records(2, 3), 2, local);
    const actions = typesOf(reset.onAnnounce(announce(0, 1, "e2"), records(0, 1), 3, local));
    assert.ok(actions.includes("new-history"));
    assert.ok(!actions.includes("apply-inline"), "the old history's applies are not continued");
    assert.deepEqual(
      typesOf(reset.onAnnounce(announce(1, 2, "e2"), records(1, 2), 4, local)),
      ["sync"],
      "nor the new history's, while the old one's commit is in flight",
    );

    const periodic = applying();
    assert.deepEqual(
      typesOf(periodic.onAnnounce({ ...announce(2, 3), periodic: true }, records(2, 3), 2, local)),
      ["sync"],
      "a periodic announcement keeps its digest check",
    );

    const full = applying();
    for (let i = 1; i < MAX_INLINE_IN_FLIGHT; i++)
      assert.deepEqual(typesOf(full.onAnnounce(announce(1 + i, 2 + i), [], 3, local)), [
        "apply-inline",
      ]);
    const last = 1 + MAX_INLINE_IN_FLIGHT;
    assert.deepEqual(typesOf(full.onAnnounce(announce(last, last + 1), [], 4, local)), ["sync"]);
    // One commit settles: the next announcement continues again.
    full.get("p")!.inlineSettled();
    assert.deepEqual(typesOf(full.onAnnounce(announce(last, last + 1), [], 5, local)), [
      "apply-inline",
    ]);
  });

  test("ending the applies (a failed commit) leaves the cursor, so the entries are pulled", () => {
    const table = applying();
    const peer = table.get("p")!;
    table.onAnnounce(announce(2, 3), records(2, 3), 2, local);
    assert.equal(peer.heldThrough, 3);
    peer.endPulling();
    assert.equal(peer.cursor, 1);
    assert.equal(peer.heldThrough, 1, "once the applies end, only what the cursor says");
    assert.equal(peer.behind, true);
    assert.deepEqual(
      actionsOf(table.onAnnounce(announce(3, 4), records(3, 4), 3, local)).map((a) => a.type),
      ["sync"],
    );
  });
});
