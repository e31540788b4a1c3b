/**
 * What applying a peer's writes costs a node, apart from everything else (issue 16): one
 * `regsync node` process, memory or LMDB, fed inline announcements by a synthetic peer at a
 * steady rate, nothing else writing. Reports the node's CPU (every thread, from /proc) per
 * applied entry, and its main thread's share, for announcements of 1, 10 and 50 writes.
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
const BATCHES = [1, 10, 50] as const;
const PEER = "peer1";

interface Measured {
  micros: number;
  mainMicros: number;
  applied: number;
  offered: number;
}

async function measure(batch: number, durable: boolean, entries: number): Promise<Measured> {
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
    const announce = () => {
      for (let k = 0; k < batch; k++) peer.register(syntheticInstance(written++));
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
    const offer = async (count: number) => {
      const intervalMs = (1_000 * batch) / ENTRIES_PER_SECOND;
      let due = performance.now();
      for (let sent = 0; sent < count; sent += batch) {
        announce();
        due += intervalMs;
        const wait = due - performance.now();
        if (wait >= 1) await sleep(wait);
      }
    };
    await offer(Math.max(batch, entries / 10)); // warm-up: JIT, first pages
    await sleep(500);
    const before = processCpuMicros(node.pid);
    const mainBefore = mainThreadCpuMicros(node.pid);
    const offeredFrom = written;
    await offer(entries);
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
      for (const batch of BATCHES) {
        const runs: Measured[] = [];
        for (let rep = 0; rep < repetitions; rep++) {
          const m = await measure(batch, durable, entries);
          context.log(
            `${durable ? "durable" : "memory"}, ${batch} per announcement: ${m.micros.toFixed(1)} CPU-µs per entry (main thread ${m.mainMicros.toFixed(1)}); applied ${m.applied} of ${m.offered}`,
          );
          runs.push(m);
        }
        const lost = runs.reduce((sum, m) => sum + (m.offered - m.applied), 0);
        rows.push({
          metric: `${durable ? "durable" : "memory"}, ${batch} writes per announcement: CPU per entry`,
          value: median(runs.map((m) => m.micros)),
          unit: "CPU-µs",
          note: `main thread ${median(runs.map((m) => m.mainMicros)).toFixed(1)}; ${ENTRIES_PER_SECOND} entries/s offered, ${entries} measured × ${repetitions}${lost > 0 ? `; ${lost} NOT APPLIED` : ""}`,
        });
      }
    }
    return rows;
  },
};

export default scenario;
