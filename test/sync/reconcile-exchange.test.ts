import assert from "node:assert/strict";
import { test } from "node:test";
import { pack, unpack } from "msgpackr";
import pino from "pino";
import { syntheticRecord } from "../../bench/fleet/synthetic.js";
import { type EntryRecord, RegistryStore } from "../../src/core/mod.js";
import type { MessageCodec } from "../../src/sync/codec.js";
import { MemoryNetwork } from "../../src/sync/memory-transport.js";
import { maxBatchBytes } from "../../src/sync/pull-server.js";
import {
  type ExchangeDeps,
  reconcileWith,
  serveExchange,
} from "../../src/sync/reconcile-exchange.js";
import { ADMIT_ALL } from "../../src/sync/request-freshness.js";
import { REAL_TIMERS } from "../../src/sync/timers.js";

const NOW = 1_764_000_000_000;
const plain: MessageCodec = { encode: (m) => pack(m), decode: (b) => unpack(b) };

function store(nodeId: string): RegistryStore {
  return new RegistryStore({
    nodeId,
    epoch: `${nodeId}-epoch`,
    wallClock: () => NOW,
    maxClockSkewMs: 5_000,
    tombstoneTtlMs: 86_400_000,
  });
}

/**
 * A node holding 5% of a 300k registry reconciles with a full peer. One reconcile step then
 * names ~285k keys; spreading them into an array (`need.push(...step.need)`) overflowed the
 * call stack, so the node failed, retried, marked the peer suspect and never converged.
 */
test("reconciling 5% of a 300k registry with a full peer converges", async () => {
  const N = 300_000;
  const full = store("full");
  const sparse = store("sparse");
  const records: EntryRecord[] = [];
  for (let i = 0; i < N; i++) records.push(syntheticRecord(i, NOW, "origin"));
  full.merge(records);
  sparse.merge(records.filter((_, i) => i % 20 === 0));
  records.length = 0;
  assert.equal(sparse.size, N / 20);

  // Production's bound with deflate on a 1 MiB server; the twin carries the uncompressed bytes.
  const bound = maxBatchBytes(4 << 20, 1 << 20, "deflate");
  const network = new MemoryNetwork({ timers: REAL_TIMERS, maxDelayMs: 0, maxPayload: 64 << 20 });
  const deps = (s: RegistryStore): ExchangeDeps => ({
    transport: network.connect(s.nodeId),
    store: s,
    nodeId: s.nodeId,
    codec: plain,
    apply: async (batch) => s.merge(batch),
    timeoutMs: 120_000,
    maxMessageBytes: () => bound,
    random: () => 0.5,
    gate: ADMIT_ALL,
  });
  const server = deps(full);
  const log = pino({ level: "silent" });
  server.transport.subscribe("reconcile.full", (msg) => {
    serveExchange(server, msg).catch((error: unknown) => log.error(error));
  });

  const outcome = await reconcileWith(deps(sparse), "full", "reconcile.full");
  assert.equal(outcome.fetched, N - N / 20);
  assert.equal(outcome.pushed, 0);
  assert.equal(sparse.size, N);
  assert.deepEqual(sparse.digest(), full.digest());
});
