import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  checkLoggedGroup,
  type LoggedGroup,
  LogReplay,
  type StoredRecord,
} from "../../src/storage/logged-group.js";

/** A record of `id` (service "svc") written at `seq`; its sealed form is the seq's digits. */
function record(id: string, seq: number): StoredRecord {
  return {
    service: "svc",
    id,
    hlc: seq,
    node: "n1",
    body: `{"id":"${id}"}`,
    status: "running",
    ver: "",
    ttlMs: 30_000,
    registeredAt: 0,
    lastHeartbeat: 0,
    expiresAt: 0,
    seq,
  };
}

const sealed = (seq: number) => Buffer.from(String(seq));

/** A replay over `held` (LMDB's records) that decodes from `logged` by seq. */
function replayOver(held: StoredRecord[], logged: StoredRecord[], head = 0) {
  const records = new Map(held.map((r) => [`svc/${r.id}`, r]));
  const bySeq = new Map(logged.map((r) => [r.seq, r]));
  const replay = new LogReplay(records, head, (seq) => {
    const found = bySeq.get(seq);
    if (found === undefined) throw new Error(`no record logged at seq ${seq}`);
    return found;
  });
  return { replay, records };
}

function group(puts: number[], deletes: number[] = [], head = 0): LoggedGroup {
  return { puts: puts.map((seq) => [seq, sealed(seq)]), deletes, head };
}

test("a logged record replaces the key's record LMDB holds, which is deleted", () => {
  const { replay, records } = replayOver([record("a", 1)], [record("a", 5)]);
  replay.apply(group([5], [1], 5));
  assert.deepEqual([...replay.puts.keys()], [5]);
  assert.deepEqual([...replay.deletes], [1]);
  assert.equal(records.get("svc/a")?.seq, 5);
  assert.equal(replay.head, 5);
});

test("a key keeps one record even where a group does not delete the older one", () => {
  const { replay, records } = replayOver([record("a", 1)], [record("a", 5), record("a", 6)]);
  replay.apply(group([5, 6]));
  assert.deepEqual([...replay.puts.keys()], [6]);
  assert.deepEqual([...replay.deletes].sort(), [1, 5]);
  assert.equal(records.get("svc/a")?.seq, 6);
});

test("a logged record older than the one LMDB holds is history: deleted, never put", () => {
  const { replay, records } = replayOver([record("a", 9)], [record("a", 5)]);
  replay.apply(group([5]));
  assert.deepEqual([...replay.puts.keys()], []);
  assert.deepEqual([...replay.deletes], [5]);
  assert.equal(records.get("svc/a")?.seq, 9);
});

test("a key written in two groups keeps the later record; a delete removes the key", () => {
  const { replay, records } = replayOver([], [record("a", 2), record("a", 3), record("b", 4)]);
  replay.apply(group([2, 4], [], 4));
  replay.apply(group([3], [2], 3));
  assert.deepEqual([...replay.puts.keys()].sort(), [3, 4]);
  assert.equal(records.get("svc/a")?.seq, 3);
  replay.apply(group([], [4]));
  assert.equal(records.has("svc/b"), false);
  assert.deepEqual([...replay.puts.keys()], [3]);
  assert.deepEqual([...replay.deletes].sort(), [2, 4]);
  assert.equal(replay.head, 4, "the highest head any group or LMDB held");
});

test("the newest list of unreported expiries a group carried is kept", () => {
  const { replay } = replayOver([], []);
  replay.apply({ ...group([]), unreported: Buffer.from("first") });
  replay.apply(group([]));
  replay.apply({ ...group([]), unreported: Buffer.from("second") });
  assert.equal(replay.unreported?.toString(), "second");
});

test("a record that does not decode stops the replay with the decoder's error", () => {
  const { replay } = replayOver([], []);
  assert.throws(() => replay.apply(group([7])), /no record logged at seq 7/);
});

test("a logged group is checked field by field", () => {
  const valid = group([1, 2], [3], 2);
  assert.equal(checkLoggedGroup(valid), valid);
  for (const bad of [
    null,
    "group",
    { ...valid, puts: "nope" },
    { ...valid, puts: [[0, sealed(0)]] },
    { ...valid, puts: [[1, "not bytes"]] },
    { ...valid, deletes: [1.5] },
    { ...valid, head: -1 },
    { ...valid, unreported: "not bytes" },
  ])
    assert.equal(checkLoggedGroup(bad), undefined, JSON.stringify(bad));
});

// What a durable node does, as LmdbStorage queues it: a write puts the key's record at a fresh
// seq and deletes the key's previous one; a removal deletes it. Some prefix of the writes is in
// LMDB (folded), the rest is in logged groups. Replayed, the groups must leave LMDB holding
// exactly one record per live key, the newest, and the records map must say the same.
type Op = { write: string } | { remove: string };

test("replaying any split of a node's writes into LMDB and logged groups gives the state of having written them all", () => {
  const key = fc.constantFrom("a", "b", "c", "d");
  const op = fc.oneof(
    key.map((k): Op => ({ write: k })),
    key.map((k): Op => ({ remove: k })),
  );
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 40 }),
      fc.nat(),
      fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 40 }),
      (ops, foldedAt, groupSizes) => {
        const disk = new Map<number, StoredRecord>();
        const stored = new Map<string, number>();
        const logged: StoredRecord[] = [];
        const groups: LoggedGroup[] = [];
        let current: LoggedGroup | undefined;
        let seq = 0;
        let lmdbHead = 0;
        let sizeAt = 0;
        const folded = foldedAt % (ops.length + 1);
        ops.forEach((o, i) => {
          const inLmdb = i < folded;
          if (
            !inLmdb &&
            (current === undefined ||
              current.puts.length + current.deletes.length >= (groupSizes[sizeAt] ?? 3))
          ) {
            current = group([]);
            groups.push(current);
            sizeAt++;
          }
          const k = "write" in o ? o.write : o.remove;
          const previous = stored.get(k);
          if ("write" in o) {
            const r = record(k, ++seq);
            stored.set(k, seq);
            if (inLmdb) {
              disk.set(seq, r);
              lmdbHead = seq;
            } else {
              logged.push(r);
              current!.puts.push([seq, sealed(seq)]);
              current!.head = seq;
            }
          } else stored.delete(k);
          if (previous !== undefined) {
            if (inLmdb) disk.delete(previous);
            else current!.deletes.push(previous);
          }
        });
        const { replay, records } = replayOver([...disk.values()], logged, lmdbHead);
        for (const g of groups) replay.apply(g);
        // LMDB after the replay's transaction.
        for (const s of replay.deletes) disk.delete(s);
        for (const s of replay.puts.keys()) disk.set(s, logged.find((r) => r.seq === s)!);
        const expected = [...stored].map(([k, s]) => `${k}@${s}`).sort();
        assert.deepEqual([...records].map(([k, r]) => `${k.slice(4)}@${r.seq}`).sort(), expected);
        assert.deepEqual([...disk.values()].map((r) => `${r.id}@${r.seq}`).sort(), expected);
        assert.equal(replay.head, seq);
      },
    ),
    { numRuns: 2_000 },
  );
});
