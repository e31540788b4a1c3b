import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  DEFAULT_REGION,
  earliestRegionLeaseClock,
  InstanceSchema,
  preferRegion,
  type RegionFreshness,
  type RegionSplitView,
  regionFreshness,
  regionLeaseClock,
  resolveRegion,
} from "../../src/core/mod.js";
import { testStore } from "../support/store.js";

const START = 1_764_000_000_000;

function storeOf(nodeId: string) {
  return testStore(nodeId, () => START);
}

describe("a node's region", () => {
  test("configured, else the NATS server's cluster name, else the default", () => {
    assert.equal(resolveRegion("eu", "us"), "eu");
    assert.equal(resolveRegion(undefined, "us"), "us");
    assert.equal(resolveRegion(undefined, undefined), DEFAULT_REGION);
    assert.equal(resolveRegion(undefined, "has spaces"), DEFAULT_REGION);
  });
});

describe("prefer: region", () => {
  test("the caller's region first, then the others, each in the order given", () => {
    const eu = storeOf("eu-node");
    const entries = [
      eu.register(
        InstanceSchema.parse({ service: "api", id: "a", host: "h", port: 1, region: "us" }),
      ).entry,
      eu.register(InstanceSchema.parse({ service: "api", id: "b", host: "h", port: 1 })).entry,
      eu.register(
        InstanceSchema.parse({ service: "api", id: "c", host: "h", port: 1, region: "eu" }),
      ).entry,
      eu.register(
        InstanceSchema.parse({ service: "api", id: "d", host: "h", port: 1, region: "ap" }),
      ).entry,
    ];
    // "b" names no region: it is in the region of the node that accepted it.
    const regionOfNode = (node: string) => (node === "eu-node" ? "eu" : undefined);
    assert.deepEqual(
      preferRegion(entries, "eu", regionOfNode).map((e) => e.id),
      ["b", "c", "a", "d"],
    );
    assert.deepEqual(
      preferRegion(entries, "us", regionOfNode).map((e) => e.id),
      ["a", "b", "c", "d"],
    );
    assert.equal(preferRegion(entries, "sa", regionOfNode).length, 4, "nothing is dropped");
  });
});

const peer = (
  region: string | undefined,
  lastSeenMs: number,
  extra: Partial<{ leaving: boolean; caughtUp: boolean }> = {},
) => ({
  region,
  lastSeenMs,
  leaving: extra.leaving ?? false,
  caughtUp: extra.caughtUp ?? true,
});

describe("freshness per region", () => {
  test("time since each region was last heard, stale past the liveness bound", () => {
    const now = 100_000;
    const regions = regionFreshness(
      "eu",
      [
        peer("eu", now - 1_000),
        peer("us", now - 30_000),
        peer("us", now - 20_000),
        peer("ap", now - 500, { caughtUp: false }),
        peer(undefined, now),
      ],
      now,
      10_000,
    );
    assert.deepEqual(Object.keys(regions), ["ap", "eu", "us"]);
    assert.deepEqual(regions.eu, {
      nodes: 2,
      live: 2,
      left: 0,
      lastHeardMs: 0,
      stale: false,
      caughtUp: true,
    });
    assert.deepEqual(regions.us, {
      nodes: 2,
      live: 0,
      left: 0,
      lastHeardMs: 20_000,
      stale: true,
      caughtUp: true,
    });
    assert.deepEqual(regions.ap, {
      nodes: 1,
      live: 1,
      left: 0,
      lastHeardMs: 500,
      stale: false,
      caughtUp: false,
    });
  });
});

describe("expiry per region during a split", () => {
  const now = 1_000_000;
  const view = (regions: Record<string, RegionFreshness>, holdMs = 60_000): RegionSplitView => ({
    ownRegion: "eu",
    regions,
    nowMs: now,
    holdMs,
  });
  const fresh = (lastHeardMs: number, extra: Partial<RegionFreshness> = {}): RegionFreshness => ({
    nodes: 2,
    live: lastHeardMs > 10_000 ? 0 : 2,
    left: 0,
    lastHeardMs,
    stale: lastHeardMs > 10_000,
    caughtUp: true,
    ...extra,
  });

  test("a silent region's leases are judged as of when it was last heard", () => {
    const v = view({ eu: fresh(0), us: fresh(20_000) });
    assert.equal(regionLeaseClock("us", v), now - 20_000);
    assert.equal(earliestRegionLeaseClock(v), now - 20_000);
  });

  test("the node's own region, a region heard recently, and unknown holders use the real clock", () => {
    const v = view({ eu: fresh(0), us: fresh(2_000) });
    assert.equal(regionLeaseClock("eu", v), now);
    assert.equal(regionLeaseClock("us", v), now);
    assert.equal(regionLeaseClock(undefined, v), now);
    assert.equal(regionLeaseClock("nowhere", v), now);
    assert.equal(earliestRegionLeaseClock(v), now);
  });

  test("a region silent past the hold, or whose nodes all stopped, expires as usual", () => {
    assert.equal(regionLeaseClock("us", view({ us: fresh(120_000) })), now);
    assert.equal(regionLeaseClock("us", view({ us: fresh(20_000, { left: 2 }) })), now);
    assert.equal(regionLeaseClock("us", view({ us: fresh(20_000) }, 0)), now);
  });
});
