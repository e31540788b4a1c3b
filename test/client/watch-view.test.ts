import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RegisteredInstance } from "../../src/client/client.js";
import { FeedTracker } from "../../src/client/watch-feed.js";
import { WatchView } from "../../src/client/watch-view.js";

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
