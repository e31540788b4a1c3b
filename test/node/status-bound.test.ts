import assert from "node:assert/strict";
import { test } from "node:test";
import { RegistryStore } from "../../src/core/mod.js";
import { MAX_STATUS_PEERS, nodeStatus } from "../../src/node/status.js";
import type { SyncEngine } from "../../src/sync/sync-engine.js";

test("a status lists at most MAX_STATUS_PEERS peers, the most recently seen, and counts the rest", () => {
  const store = new RegistryStore({
    nodeId: "n1",
    epoch: "e1",
    wallClock: () => 1_000_000,
    maxClockSkewMs: 30_000,
    tombstoneTtlMs: 60_000,
  });
  // The attack of issue 13: 8,000 announced peer ids made registry.status too large to answer.
  const peers = new Map(
    Array.from({ length: 8_000 }, (_, i) => [
      `fake-${i}`,
      {
        id: `fake-${i}-${"x".repeat(50)}`,
        stateAt: () => "healthy",
        epoch: "e".repeat(16),
        digest: "d".repeat(64),
        count: 1,
        announcedSeq: 1,
        cursor: 0,
        lastSeenMs: i === 7_999 ? 999_999 : i,
        failures: 0,
        totalFailures: 0,
        lastPullLatencyMs: 0,
      },
    ]),
  );
  const sync = {
    peers,
    isConverged: () => false,
    livenessMs: () => 1_000,
    bootstrapping: undefined,
  } as unknown as SyncEngine;
  const status = nodeStatus(store, sync, {
    version: "x",
    state: "ready",
    nats: { connected: true, server: "nats://127.0.0.1:4222" },
    ready: true,
    selfPreservation: false,
    startedAtMs: 0,
    nowMs: 1_000_000,
  });
  assert.equal(status.peers.length, MAX_STATUS_PEERS);
  assert.equal(status.peersOmitted, 8_000 - MAX_STATUS_PEERS);
  assert.ok(
    status.peers.some((p) => p.id.startsWith("fake-7999-")),
    "the newest peer is listed",
  );
  assert.ok(JSON.stringify(status).length < 256 * 1024);
});
