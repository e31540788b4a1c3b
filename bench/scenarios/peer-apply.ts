/**
 * What applying a peer's writes costs a node, apart from everything else (issue 16): one
 * `regsync node` process, memory or LMDB, fed inline announcements by a synthetic peer at a
 * steady rate, nothing else writing. Reports the node's CPU (every thread, from /proc) per
 * applied entry, and its main thread's share, for announcements of 1, 10 and 50 new
 * registrations, and of 10 and 50 heartbeats of instances the node already holds (a registry
 * at rest).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { syncSubjects } from "../../src/contract/subjects.js";
import { RegistryStore } from "../../src/core/mod.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { toTuple } from "../../src/sync/entry-codec.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { headOf } from "../../src/sync/heads.js";
import { syntheticInstance } from "../fleet/synthetic.js";
import { type BenchContext, type BenchRow, median, type Scenario } from "../scenario.js";
import { startNodeProcess } from "../writes/node-process.js";
import { mainThreadCpuMicros, processCpuMicros } from "../writes/process-cpu.js";

/** Entries offered per second, whatever the batch: the node's load stays the same. */
const ENTRIES_PER_SECOND = 8_000;
const PEER = "peer1";

type Kind = "registrations" | "heartbeats";
const RUNS: readonly { kind: Kind; batch: number }[] = [
  { kind: "registrations", batch: 1 },
  { kind: "registrations", batch: 10 },
  { kind: "registrations", batch: 50 },
  { kind: "heartbeats", batch: 10 },
  { kind: "heartbeats", batch: 50 },
];

interface Measured {
  micros: number;
  mainMicros: number;
  applied: number;
  offered: number;
}

async function measure(
  kind: Kind,
  batch: number,
  durable: boolean,
  entries: number,
): Promise<Measured> {
  const server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), "regsync-bench-peer-"));
  const node = await startNodeProcess({
    id: "n1",
    natsUrl: server.url,
    dataDir: durable ? join(dir, "n1") : undefined,
  });
  const nc = await connect({ servers: server.url });
  try {
    const peer = new RegistryStore({
      nodeId: PEER,
      epoch: "peer-epoch",
      wallClock: () => Date.now(),
      maxClockSkewMs: 60_000,
      tombstoneTtlMs: 86_400_000,
    });
    const codec = createSyncCodec({
      compressionThreshold: 8_192,
      maxDecompressedBytes: 64 << 20,
      id: PEER,
      trustedPeers: [],
    });
    const subject = syncSubjects("registry").announce;
    let from = 0;
    let written = 0;
    const registered: { service: string; id: string }[] = [];
    const announce = (what: Kind) => {
      for (let k = 0; k < batch; k++) {
        if (what === "registrations") {
          const instance = syntheticInstance(registered.length);
          peer.register(instance);
          registered.push(instance);
        } else {
          const { service, id } = registered[written % registered.length]!;
          peer.heartbeat(service, id);
        }
        written++;
      }
      const page = peer.changesSince(from, {
        onlyNode: PEER,
        maxEntries: batch,
        maxBytes: 1 << 20,
      });
      const message = headOf(peer, []);
      message.from = from;
      message.entries = page.records.map(toTuple);
      from = peer.seq;
      nc.publish(subject, codec.encode(message, false).bytes);
    };
    const offer = async (what: Kind, count: number) => {
      const intervalMs = (1_000 * batch) / ENTRIES_PER_SECOND;
      let due = performance.now();
      for (let sent = 0; sent < count; sent += batch) {
        announce(what);
        due += intervalMs;
        const wait = due - performance.now();
        if (wait >= 1) await sleep(wait);
      }
    };
    // Warm-up (JIT, first pages); heartbeats need every instance they renew registered first.
    await offer("registrations", kind === "heartbeats" ? entries : Math.max(batch, entries / 10));
    await sleep(500);
    const before = processCpuMicros(node.pid);
    const mainBefore = mainThreadCpuMicros(node.pid);
    const offeredFrom = written;
    await offer(kind, entries);
    await sleep(1_000); // the last commits
    const micros = processCpuMicros(node.pid) - before;
    const mainMicros = mainThreadCpuMicros(node.pid) - mainBefore;
    const offered = written - offeredFrom;
    const metrics = await node.metrics();
    const line = metrics
      .split("\n")
      .find((l) => l.startsWith('regsync_entries_applied_total{path="inline"}'));
    return {
      micros: micros / offered,
      mainMicros: mainMicros / offered,
      applied: Number(line?.split(" ")[1] ?? 0),
      offered: written,
    };
  } finally {
    await nc.close();
    await node.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const scenario: Scenario = {
  name: "peer-apply",
  description: "a node's CPU per peer entry applied, by writes per announcement",
  async run(context: BenchContext) {
    const entries = context.quick ? 10_000 : 40_000;
    const repetitions = context.quick ? 1 : 3;
    const rows: BenchRow[] = [];
    for (const durable of [false, true]) {
      for (const { kind, batch } of RUNS) {
        const label = `${durable ? "durable" : "memory"}, ${batch} ${kind} per announcement`;
        const runs: Measured[] = [];
        for (let rep = 0; rep < repetitions; rep++) {
          const m = await measure(kind, batch, durable, entries);
          context.log(
            `${label}: ${m.micros.toFixed(1)} CPU-µs per entry (main thread ${m.mainMicros.toFixed(1)}); applied ${m.applied} of ${m.offered}`,
          );
          runs.push(m);
        }
        const lost = runs.reduce((sum, m) => sum + (m.offered - m.applied), 0);
        rows.push({
          metric: `${label}: CPU per entry`,
          value: median(runs.map((m) => m.micros)),
          unit: "CPU-µs",
          note: `main thread ${median(runs.map((m) => m.mainMicros)).toFixed(1)}; ${ENTRIES_PER_SECOND} entries/s offered, ${entries} measured × ${repetitions}${lost > 0 ? `; ${lost} not applied inline (a backlog overflowed to pulls, which this synthetic peer does not answer)` : ""}`,
        });
      }
    }
    return rows;
  },
};

export default scenario;
