import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ChangeLog,
  ClockSkewError,
  compareVersionStrings,
  digestOf,
  type EntryRecord,
  entryRecord,
  type HashLanes,
  Hlc,
  hlcWall,
  InstanceSchema,
  orderFromCustom,
  RegistryStore,
  reconcile,
  renderInstance,
} from "../../src/core/mod.js";
import { ReconIndex, type ReconItem } from "../../src/core/reconcile/recon-index.js";

const START = 1_764_000_000_000;
const GRACE = 60_000;

function setup(nodeId = "n1") {
  const clock = { now: START };
  const store = new RegistryStore({
    nodeId,
    epoch: "e",
    wallClock: () => clock.now,
    maxClockSkewMs: 5_000,
    tombstoneTtlMs: GRACE,
  });
  const register = (id: string, extra: Record<string, unknown> = {}) =>
    store.register(
      InstanceSchema.parse({ service: "api", id, host: "10.0.0.1", port: 80, ...extra }),
    );
  return { clock, store, register };
}

describe("instance schema", () => {
  test("defaults and bounds of DESIGN.md §2", () => {
    const i = InstanceSchema.parse({ service: "api", id: "a-1.b:2", host: "h", port: 1 });
    assert.equal(i.status, "starting");
    assert.equal(i.weight, 100);
    assert.equal(i.ttlMs, 30_000);
    for (const bad of [
      { port: 0 },
      { port: 65_536 },
      { weight: 1_001 },
      { ttlMs: 999 },
      { ttlMs: 86_400_001 },
      { service: "a.b" },
      { service: "x".repeat(65) },
      { id: "a b" },
      { status: "dead" },
      { colour: "red" },
    ]) {
      const result = InstanceSchema.safeParse({
        service: "api",
        id: "a",
        host: "h",
        port: 1,
        ...bad,
      });
      assert.equal(result.success, false, JSON.stringify(bad));
      assert.ok(
        result.error!.issues.some(
          (issue) => issue.path.length > 0 || issue.code === "unrecognized_keys",
        ),
      );
    }
  });

  test("fields the registry sets are ignored when echoed back", () => {
    const i = InstanceSchema.parse({
      service: "api",
      id: "a",
      host: "h",
      port: 1,
      registeredAt: 1,
      expiresAt: 2,
      lastHeartbeat: 3,
      node: "x",
    });
    assert.equal("registeredAt" in i, false);
  });
});

describe("hybrid logical clock", () => {
  test("monotonic when the wall clock goes back, and rejects a peer too far ahead", () => {
    let wall = START;
    const hlc = new Hlc(() => wall, 1_000);
    const a = hlc.now();
    wall -= 10_000;
    const b = hlc.now();
    assert.ok(b > a);
    assert.throws(() => hlc.receive((START + 5_000) * 1024), ClockSkewError);
    hlc.receive((wall + 500) * 1024);
    assert.ok(hlc.now() > (wall + 500) * 1024);
  });

  test("the counter overflows into the next millisecond", () => {
    const hlc = new Hlc(() => START, 1_000);
    let last = 0;
    for (let i = 0; i < 3_000; i++) last = hlc.now();
    assert.equal(hlcWall(last), START + 2);
  });
});

describe("merge orders", () => {
  test("instance versions order numerically", () => {
    const sorted = ["1.10.1", "1.9", "1.10", "", "1.10.0-rc.1", "2"].sort(compareVersionStrings);
    assert.deepEqual(sorted, ["", "1.9", "1.10", "1.10.0-rc.1", "1.10.1", "2"]);
  });

  test("a custom merge sees its arguments in a canonical order", () => {
    const seen: string[] = [];
    const order = orderFromCustom((a, b) => {
      seen.push(`${a.node}<${b.node}`);
      return b;
    });
    const a = { hlc: 1, node: "a" } as EntryRecord;
    const b = { hlc: 2, node: "b" } as EntryRecord;
    assert.equal(Math.sign(order(a, b)), -Math.sign(order(b, a)));
    assert.deepEqual(seen, ["a<b", "a<b"]);
  });
});

describe("digest and change log", () => {
  test("the digest's remove undoes add across carries", () => {
    const index = new ReconIndex<ReconItem>();
    const item = (id: string, h: HashLanes): ReconItem => ({
      service: "s",
      id,
      k0: 0,
      k1: 0,
      ...h,
    });
    const x = item("x", { h0: -1, h1: -1, h2: -1, h3: -1 });
    const y = item("y", { h0: 0, h1: 0, h2: 0, h3: 1 });
    index.add(x);
    index.add(y);
    assert.equal(index.digest().digest, "00000000000000000000000000000000");
    index.remove(x);
    assert.deepEqual(index.digest(), { digest: digestOf([y]).hex, count: 1 });
  });

  test("scans return each item once, at its last position, across compactions", () => {
    const log = new ChangeLog<{ seq: number; name: string }>();
    const items = Array.from({ length: 3_000 }, (_, i) => ({ seq: 0, name: `k${i}` }));
    for (const item of items) log.append(item);
    for (let i = 0; i < 2_500; i++) log.append(items[i]!);
    const seen: string[] = [];
    log.scan(2_900, (item) => seen.push(item.name) > 0);
    assert.equal(seen.length, 2_600);
    assert.equal(new Set(seen).size, seen.length);
    assert.equal(log.size, 3_000);
  });
});

describe("RegistryStore", () => {
  test("register, update, heartbeat and deregister report the right changes", () => {
    const { clock, store, register } = setup();
    assert.equal(register("a").type, "registered");
    clock.now += 1_000;
    const updated = register("a", { port: 81 });
    assert.equal(updated.type, "updated");
    assert.equal(updated.entry.registeredAt, START, "an update keeps the registration time");
    assert.equal(store.heartbeat("api", "a")?.event, undefined, "a renewal is not a change");
    assert.equal(store.heartbeat("api", "a", "running")?.event?.type, "updated");
    assert.equal(store.deregister("api", "a").event?.type, "deregistered");
    assert.equal(store.deregister("api", "a").event, undefined, "nothing live to remove");
    assert.equal(store.heartbeat("api", "a"), undefined);
  });

  test("a deregister always writes a tombstone that wins over a registration still on its way", () => {
    const writer = setup();
    const reader = setup("n2");
    const { entry } = writer.register("late");
    // The reader never saw the registration, yet acknowledges the deregister.
    const { entry: tombstone, event } = reader.store.deregister("api", "late");
    assert.equal(event, undefined);
    assert.equal(tombstone.body, null);
    reader.store.merge([entryRecord(entry)]);
    writer.store.merge([entryRecord(tombstone)]);
    for (const store of [reader.store, writer.store]) {
      assert.equal(
        store.get("api", "late")?.body,
        null,
        "the registration arrived after; still deleted",
      );
      assert.deepEqual(store.lookup({ service: "api" }, writer.clock.now), []);
    }
  });

  test("keys whose key hashes share the high half stay apart", () => {
    // Found by hashing api/c-0, api/c-1, …: the first pair whose high halves are equal.
    const [x, y] = ["c-78854", "c-121367"];
    const high = (id: string) => reconcile.keyHashHigh(reconcile.keyHashOf("api", id));
    assert.equal(high(x), high(y));
    const { clock, store, register } = setup();
    const day = { ttlMs: 86_400_000 };
    register(x, day);
    register(y, { ...day, port: 81 });
    register("c-1", day);
    assert.equal(store.get("api", x)?.body?.includes('"port":80'), true);
    assert.equal(store.get("api", y)?.body?.includes('"port":81'), true);
    assert.equal(store.lookup({ service: "api" }, clock.now).length, 3);
    store.deregister("api", x);
    clock.now += GRACE + 1_000;
    assert.equal(store.sweep(clock.now).collected, 1);
    assert.equal(store.get("api", x), undefined);
    assert.equal(store.get("api", y)?.id, y);
    assert.equal(store.deregister("api", y).event?.type, "deregistered");
    clock.now += GRACE + 1_000;
    store.sweep(clock.now);
    assert.equal(store.get("api", y), undefined);
    assert.deepEqual(
      [...store.entries()].map((e) => e.id),
      ["c-1"],
    );
    register(y);
    assert.equal(store.get("api", y)?.id, y, "a collected key can come back");
  });

  test("an expired lease is hidden at once, reported once, collected after the grace period, never re-adopted", () => {
    const { clock, store, register } = setup();
    const { entry } = register("a", { ttlMs: 1_000 });
    const record = entryRecord(entry);
    clock.now += 1_001;
    assert.equal(store.lookup({ service: "api" }, clock.now).length, 0);
    assert.equal(store.heartbeat("api", "a"), undefined);
    clock.now += 1_000;
    assert.equal(store.sweep(clock.now).expired.length, 1);
    assert.equal(store.sweep(clock.now).expired.length, 0);
    clock.now += GRACE + 2_000;
    assert.equal(store.sweep(clock.now).collected, 1);
    assert.equal(store.size, 0);
    assert.equal(store.merge([record]).rejectedExpired, 1);
    assert.equal(store.size, 0);
  });

  test("merge keeps the newest version, ignores stale ones and rejects clocks too far ahead", () => {
    const a = setup("a");
    const b = setup("b");
    a.register("x");
    b.clock.now += 10;
    b.register("x", { port: 99 });
    const fromA = a.store
      .changesSince(0, { maxEntries: 10, maxBytes: 1 << 20 })
      .records.map((e) => entryRecord(e));
    assert.equal(b.store.merge(fromA).stale, 1);
    const ahead = { ...fromA[0]!, hlc: (START + 60_000) * 1024 };
    assert.equal(b.store.merge([ahead]).rejectedSkew, 1);
    assert.equal(b.store.get("api", "x")?.node, "b");
  });

  test("changesSince honours its filters and bounds, and its cursor resumes", () => {
    const { store, register } = setup("me");
    for (let i = 0; i < 10; i++) register(`i${i}`);
    store.merge([
      {
        ...entryRecord(store.get("api", "i0")!),
        id: "remote",
        node: "peer",
        hlc: store.get("api", "i0")!.hlc + 1,
      },
    ]);
    const first = store.changesSince(0, { maxEntries: 4, maxBytes: 1 << 20 });
    assert.equal(first.records.length, 4);
    assert.equal(first.complete, false);
    const rest = store.changesSince(first.cursor, { maxEntries: 100, maxBytes: 1 << 20 });
    assert.equal(rest.records.length, 7);
    assert.equal(rest.cursor, store.seq);
    assert.equal(
      store.changesSince(0, { maxEntries: 100, maxBytes: 1 << 20, onlyNode: "me" }).records.length,
      10,
    );
    assert.equal(
      store.changesSince(0, { maxEntries: 100, maxBytes: 1 << 20, excludeNode: "me" }).records
        .length,
      1,
    );
    assert.equal(
      store.changesSince(0, { maxEntries: 100, maxBytes: 1 }).records.length,
      1,
      "the first record always fits",
    );
  });

  test("restore rebuilds the same state and continues the sequence", () => {
    const { store, register } = setup();
    for (let i = 0; i < 20; i++) register(`i${i}`);
    store.deregister("api", "i3");
    const saved = [...store.entries()]
      .map((e) => ({ ...entryRecord(e), seq: e.seq }))
      .sort((x, y) => x.seq - y.seq);
    const copy = setup().store;
    copy.restore(saved, store.seq + 5);
    assert.equal(copy.digest().digest, store.digest().digest);
    assert.equal(copy.seq, store.seq + 5);
    copy.register(InstanceSchema.parse({ service: "api", id: "new", host: "h", port: 1 }));
    assert.equal(copy.seq, store.seq + 6);
  });

  test("filters and rendering", () => {
    const { store, register, clock } = setup();
    register("a", { region: "eu", tags: { zone: "us" }, status: "running", version: "2.0" });
    register("b", { region: "us", tags: { zone: "eu" } });
    const ids = (q: Parameters<RegistryStore["lookup"]>[0]) =>
      store.lookup(q, clock.now).map((e) => e.id);
    assert.deepEqual(ids({ service: "api", region: "eu" }), ["a"]);
    assert.deepEqual(ids({ service: "api", tags: { zone: "eu" } }), ["b"]);
    assert.deepEqual(ids({ service: "api", status: "running", version: "2.0" }), ["a"]);
    const rendered = JSON.parse(renderInstance(store.get("api", "a")!));
    assert.equal(rendered.region, "eu");
    assert.equal(rendered.node, "n1");
    assert.equal(rendered.expiresAt, START + 30_000);
  });
});
