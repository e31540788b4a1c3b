import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { entryRecord, InstanceSchema } from "../../src/core/mod.js";
import { NodeRegions } from "../../src/node/regions.js";
import { PeerState } from "../../src/sync/peer.js";
import { testStore } from "../support/store.js";

const START = 1_764_000_000_000;
const LIVENESS_MS = 1_000;
const HOLD_MS = 60_000;
const TTL_MS = 5_000;

/**
 * Node eu1 with one peer per region (eu2, us1); `hear(peer)` records an announcement now. The
 * store and the sweep are the node's own; only the peers are set by hand.
 */
function setup() {
  let now = START;
  const peers = new Map<string, PeerState>();
  const hear = (id: string, region: string) => {
    const peer = peers.get(id) ?? new PeerState(id);
    peers.set(id, peer);
    peer.onAnnounce("e", 0, "0".repeat(32), 0, now, [], undefined, region);
  };
  const store = testStore("eu1", () => now);
  const regions = new NodeRegions(
    "eu",
    "eu1",
    { peers, livenessMs: () => LIVENESS_MS },
    HOLD_MS,
    () => now,
  );
  /** A lease renewed through `node` now. */
  const lease = (id: string, node: string) => {
    const writer = testStore(node, () => now);
    const { entry } = writer.register(
      InstanceSchema.parse({ service: "api", id, host: "h", port: 1, ttlMs: TTL_MS }),
    );
    store.merge([entryRecord(entry)]);
  };
  /** One sweep as the node runs it: what it would report expired. */
  const sweep = () =>
    regions
      .settleExpiries(store.sweep(now).expired, now)
      .map((e) => e.id)
      .sort();
  return {
    hear,
    lease,
    sweep,
    regions,
    peers,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("expiry per region in the node's sweep", () => {
  test("a silent region's lapsed leases are held; the own region's expire", () => {
    const { hear, lease, sweep, regions, advance } = setup();
    hear("eu2", "eu");
    hear("us1", "us");
    lease("e1", "eu2");
    lease("u1", "us1");
    advance(2_000);
    hear("eu2", "eu"); // eu2 still speaks; us1 has gone silent
    advance(TTL_MS);
    hear("eu2", "eu");
    assert.deepEqual(sweep(), ["e1"], "only the eu lease is reported");
    assert.equal(regions.heldLeases, 1);
    assert.deepEqual(sweep(), [], "the held one is not reported on the next sweep either");
  });

  test("a held lease renewed once the region is heard again is released, never reported", () => {
    const { hear, lease, sweep, regions, advance } = setup();
    hear("us1", "us");
    lease("u1", "us1");
    advance(TTL_MS + 2_000);
    assert.deepEqual(sweep(), []);
    assert.equal(regions.heldLeases, 1);
    hear("us1", "us");
    lease("u1", "us1"); // the renewal arrives with the heal
    assert.deepEqual(sweep(), []);
    assert.equal(regions.heldLeases, 0);
  });

  test("a region silent past the hold is taken as gone: its held leases are reported then", () => {
    const { hear, lease, sweep, regions, advance } = setup();
    hear("us1", "us");
    lease("u1", "us1");
    advance(TTL_MS + 2_000);
    assert.deepEqual(sweep(), []);
    advance(HOLD_MS);
    assert.deepEqual(sweep(), ["u1"]);
    assert.equal(regions.heldLeases, 0);
  });

  test("the leases of a region whose nodes all said they stop expire as usual", () => {
    const { hear, lease, sweep, peers, advance } = setup();
    hear("us1", "us");
    lease("u1", "us1");
    peers.get("us1")!.onLeaving("e", Number.MAX_SAFE_INTEGER);
    advance(TTL_MS + 2_000);
    assert.deepEqual(sweep(), ["u1"]);
  });
});
