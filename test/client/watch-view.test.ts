import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { RegisteredInstance } from "../../src/client/client.js";
import { FeedTracker } from "../../src/client/watch-feed.js";
import { type WatchEvent, WatchView } from "../../src/client/watch-view.js";

const inst = (id: string, port = 80) => ({ service: "web", id, port }) as RegisteredInstance;
const event = (type: "registered" | "updated" | "deregistered", id: string, version: number) => ({
  type,
  service: "web",
  id,
  instance: type === "deregistered" ? null : inst(id, version),
  version,
});

describe("watch view", () => {
  test("a snapshot that was in flight never undoes newer notifications", () => {
    const view = new WatchView("web");
    view.merge({ full: true, asOf: 10, entries: [{ id: "a", version: 10, instance: inst("a") }] });
    // While a resync is in flight: a is updated, b registered, a later c deleted.
    assert.ok(view.apply(event("updated", "a", 20)));
    assert.ok(view.apply(event("registered", "b", 21)));
    // The snapshot taken before those arrives now.
    const out = view.merge({
      full: true,
      asOf: 15,
      entries: [{ id: "a", version: 10, instance: inst("a") }],
    });
    assert.deepEqual(out, [], "nothing older than what was delivered is emitted");
    assert.deepEqual(
      view.instances().map((i) => [i.id, i.port]),
      [
        ["a", 20],
        ["b", 21],
      ],
    );
  });

  test("a deleted instance does not come back from an older snapshot", () => {
    const view = new WatchView("web");
    view.apply(event("registered", "a", 5));
    view.apply(event("deregistered", "a", 9));
    assert.deepEqual(
      view.merge({ full: true, asOf: 8, entries: [{ id: "a", version: 5, instance: inst("a") }] }),
      [],
    );
    assert.equal(view.size, 0);
  });

  test("a differential reply applies changes and removals by version", () => {
    const view = new WatchView("web");
    view.merge({
      full: true,
      asOf: 3,
      entries: [
        { id: "a", version: 1, instance: inst("a") },
        { id: "b", version: 2, instance: inst("b") },
      ],
    });
    const out = view.merge({
      full: false,
      asOf: 7,
      entries: [{ id: "c", version: 6, instance: inst("c") }],
      removed: [{ id: "a", version: 7 }],
    });
    assert.deepEqual(
      out.map((e) => [e.type, e.id, e.synthetic]),
      [
        ["registered", "c", true],
        ["deregistered", "a", true],
      ],
    );
    assert.deepEqual(
      view
        .instances()
        .map((i) => i.id)
        .sort(),
      ["b", "c"],
    );
  });
});

describe("feed tracker", () => {
  test("per node: next, gap, a restart that starts at 1, and one that does not", () => {
    const feeds = new FeedTracker();
    assert.equal(feeds.observe({ node: "n", epoch: "e1", seq: 4 }, 100).kind, "next");
    assert.equal(feeds.observe({ node: "n", epoch: "e1", seq: 5 }, 110).kind, "next");
    assert.deepEqual(feeds.observe({ node: "n", epoch: "e1", seq: 7 }, 130), {
      kind: "gap",
      since: 110,
    });
    assert.equal(feeds.observe({ node: "n", epoch: "e1", seq: 7 }, 130).kind, "duplicate");
    assert.equal(feeds.observe({ node: "n", epoch: "e2", seq: 1 }, 140).kind, "next");
    assert.deepEqual(feeds.observe({ node: "n", epoch: "e3", seq: 2 }, 160), {
      kind: "gap",
      since: 140,
    });
  });
});

describe("watch view, randomized", () => {
  test("notifications dropped and snapshots interleaved: versions only move forward, and the last snapshot makes the view exact", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.constantFrom("a", "b", "c", "d"),
            live: fc.boolean(),
            delivered: fc.boolean(),
            snapshotAfter: fc.boolean(),
            differential: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        (ops) => {
          const view = new WatchView("web");
          const truth = new Map<string, { live: boolean; version: number }>();
          const emitted = new Map<string, number>();
          const check = (events: (WatchEvent | undefined)[]) => {
            for (const e of events) {
              if (e === undefined) continue;
              assert.ok(e.version >= (emitted.get(e.id) ?? 0), "older than one delivered");
              emitted.set(e.id, e.version);
            }
          };
          /** A snapshot of the truth: whole, or what changed after `since`. */
          const snapshot = (since: number | undefined) => {
            const asOf = Math.max(0, ...[...truth.values()].map((t) => t.version));
            const entries = [...truth]
              .filter(([, t]) => t.live && (since === undefined || t.version > since))
              .map(([id, t]) => ({ id, version: t.version, instance: inst(id, t.version) }));
            const removed =
              since === undefined
                ? undefined
                : [...truth]
                    .filter(([, t]) => !t.live && t.version > since)
                    .map(([id, t]) => ({ id, version: t.version }));
            return { full: since === undefined, asOf, entries, removed };
          };
          const pending: ReturnType<typeof snapshot>[] = [];
          let version = 0;
          let lastAsOf = 0;
          for (const op of ops) {
            version++;
            const was = truth.get(op.id);
            if (!op.live && !was?.live) continue;
            truth.set(op.id, { live: op.live, version });
            const type = op.live ? (was?.live ? "updated" : "registered") : "deregistered";
            if (op.delivered) check([view.apply(event(type, op.id, version))]);
            // A snapshot taken now may arrive later, after further notifications.
            if (op.snapshotAfter) pending.push(snapshot(op.differential ? lastAsOf : undefined));
            if (pending.length > 0 && op.differential) {
              const reply = pending.shift()!;
              check(view.merge(reply));
              lastAsOf = Math.max(lastAsOf, reply.asOf);
            }
          }
          for (const reply of pending) check(view.merge(reply));
          check(view.merge(snapshot(undefined)));
          const expected = [...truth]
            .filter(([, t]) => t.live)
            .map(([id, t]) => `${id}@${t.version}`)
            .sort();
          const held = view
            .instances()
            .map((i) => `${i.id}@${i.port}`)
            .sort();
          assert.deepEqual(held, expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
