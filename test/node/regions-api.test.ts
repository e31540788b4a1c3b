import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  type Entry,
  earliestRegionLeaseClock,
  entryRecord,
  InstanceSchema,
  type RegionFreshness,
  type RegionSplitView,
  regionLeaseClock,
} from "../../src/core/mod.js";
import { RegistryError } from "../../src/errors.js";
import { RegistryApi } from "../../src/node/api.js";
import type { ApiRegions } from "../../src/node/regions.js";
import { testStore } from "../support/store.js";

const NOW = 1_764_000_000_000;

/** Node "eu1" in region eu; "us1" of region us was last heard `usSilentMs` ago. */
function setup(usSilentMs: number) {
  let now = NOW;
  const store = testStore("eu1", () => now);
  const regionOfNode = (node: string) =>
    node.startsWith("eu") ? "eu" : node.startsWith("us") ? "us" : undefined;
  const freshness = (): Record<string, RegionFreshness> => ({
    eu: { nodes: 1, live: 1, left: 0, lastHeardMs: 0, stale: false, caughtUp: true },
    us: {
      nodes: 1,
      live: usSilentMs > 1_000 ? 0 : 1,
      left: 0,
      lastHeardMs: usSilentMs,
      stale: usSilentMs > 1_000,
      caughtUp: true,
    },
  });
  const splitView = (): RegionSplitView => ({
    ownRegion: "eu",
    regions: freshness(),
    nowMs: now,
    holdMs: 3_600_000,
  });
  const regions: ApiRegions = {
    region: "eu",
    regionOfNode,
    freshness,
    splitView,
    leaseClockOf: (entry: Entry, view, leaseClock) =>
      Math.min(leaseClock, regionLeaseClock(regionOfNode(entry.node), view)),
    earliestLeaseClock: (view, leaseClock) => Math.min(leaseClock, earliestRegionLeaseClock(view)),
  };
  const api = new RegistryApi({
    store,
    nodeId: "eu1",
    maxRequestBytes: 4_096,
    commit: async () => {},
    onWrite: () => {},
    ready: () => true,
    wallClock: () => now,
    regions,
  });
  const call = async (body: unknown) =>
    JSON.parse(await api.handle("lookup", new TextEncoder().encode(JSON.stringify(body))));
  /** An instance written by `node` (a replicated entry from a peer, or our own). */
  const put = (id: string, node: string, extra: Record<string, unknown> = {}) => {
    const local = testStore(node, () => now);
    const { entry } = local.register(
      InstanceSchema.parse({ service: "api", id, host: "h", port: 1, ...extra }),
    );
    store.merge([entryRecord(entry)]);
  };
  return { call, put, advance: (ms: number) => (now += ms) };
}

describe("lookup: prefer region and freshness", () => {
  test('prefer: "region" ranks the answering node\'s region first, or the one the caller names', async () => {
    const { call, put } = setup(0);
    put("u", "us1");
    put("e", "eu1");
    put("x", "us1", { region: "eu" });
    const mine = await call({ service: "api", prefer: "region" });
    assert.deepEqual(
      mine.instances.map((i: { id: string }) => i.id),
      ["e", "x", "u"],
    );
    assert.equal(mine.preferredRegion, "eu");
    const named = await call({ service: "api", prefer: "region", region: "us" });
    assert.deepEqual(
      named.instances.map((i: { id: string }) => i.id),
      ["u", "e", "x"],
    );
    // Without prefer, region stays a filter (DESIGN.md §2).
    const filtered = await call({ service: "api", region: "eu" });
    assert.deepEqual(
      filtered.instances.map((i: { id: string }) => i.id),
      ["x"],
    );
  });

  test("pages of a prefer lookup follow the ranked order", async () => {
    const { call, put } = setup(0);
    for (const id of ["a", "b", "c"]) put(`us-${id}`, "us1");
    for (const id of ["a", "b"]) put(`eu-${id}`, "eu1");
    const ids: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const reply = await call({
        service: "api",
        prefer: "region",
        limit: 2,
        ...(cursor ? { cursor } : {}),
      });
      ids.push(...reply.instances.map((i: { id: string }) => i.id));
      cursor = reply.nextCursor;
      if (cursor === undefined) break;
    }
    assert.deepEqual(ids, ["eu-a", "eu-b", "us-a", "us-b", "us-c"]);
  });

  test("regions: true adds the answering node and its freshness per region", async () => {
    const { call } = setup(5_000);
    const reply = await call({ service: "api", regions: true });
    assert.equal(reply.node, "eu1");
    assert.equal(reply.nodeRegion, "eu");
    assert.equal(reply.regions.us.stale, true);
    assert.equal(reply.regions.us.lastHeardMs, 5_000);
    assert.equal(reply.regions.eu.stale, false);
  });

  test("a lapsed lease held by a silent region's node stays visible; our own region's does not", async () => {
    const { call, put, advance } = setup(20_000);
    put("u", "us1", { ttlMs: 10_000 });
    put("e", "eu1", { ttlMs: 10_000 });
    advance(15_000);
    // Both leases ended 5 s ago. us was last heard 20 s ago: the lease renewed there is
    // judged as of then and stays; the one held in our own region has lapsed.
    const reply = await call({ service: "api" });
    assert.deepEqual(
      reply.instances.map((i: { id: string }) => i.id),
      ["u"],
    );
  });

  test("bad prefer or regions values are invalid requests", async () => {
    const { call } = setup(0);
    for (const body of [
      { service: "api", prefer: "zone" },
      { service: "api", regions: "yes" },
    ]) {
      await assert.rejects(
        call(body),
        (error: unknown) => error instanceof RegistryError && error.code === "invalid_request",
      );
    }
  });
});
