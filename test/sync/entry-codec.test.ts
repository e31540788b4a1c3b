import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { EntryState } from "../../src/core/mod.js";
import { fromTuples, InvalidEntryError } from "../../src/sync/entry-codec.js";
import { instanceRecord, instanceTuple } from "../support/peer-entries.js";

/** A replica holding one entry, as `fromTuples` asks for it. */
function holding(entry: EntryState) {
  return (service: string, id: string) =>
    service === entry.service && id === entry.id ? entry : undefined;
}

describe("entry tuples against what the replica holds", () => {
  const stored = instanceRecord("api", "a", { node: "n2", wall: Date.now() - 5_000 });

  test("a heartbeat repeating the stored body, ttl and version is accepted", () => {
    const tuple = instanceTuple("api", "a", { node: "n2" });
    assert.equal(tuple[4], stored.body);
    const [record] = fromTuples([tuple], holding(stored));
    assert.equal(record?.body, stored.body);
  });

  test("the stored body under another ttl is checked again, and refused as they disagree", () => {
    const wall = Date.now();
    const ttlMs = stored.ttlMs + 1_000;
    const tuple = instanceTuple("api", "a", { node: "n2", wall }, { 7: ttlMs, 10: wall + ttlMs });
    assert.equal(tuple[4], stored.body);
    assert.throws(() => fromTuples([tuple], holding(stored)), InvalidEntryError);
    assert.throws(() => fromTuples([tuple], holding(stored)), /ttlMs differs/);
  });

  test("a body that differs from the stored one is checked in full", () => {
    const wall = Date.now();
    const bad = '{"host":"h","port":80,"weight":100,"ttlMs":30000}  ';
    const tuple = instanceTuple("api", "a", { node: "n2", wall }, { 4: bad });
    assert.throws(() => fromTuples([tuple], holding(stored)), /body/);
  });

  test("a body that is not one JSON object is refused, with or without a stored entry", () => {
    const tuple = instanceTuple("api", "b", { node: "n2" }, { 4: '{"host":"h"} {"x":1}' });
    assert.throws(() => fromTuples([tuple]), /body is not JSON/);
    assert.throws(() => fromTuples([tuple], holding(stored)), /body is not JSON/);
    assert.throws(() => fromTuples([instanceTuple("api", "c", { node: "n2" }, { 4: "[]" })]));
  });
});
