/**
 * The running fleet: propagation latency, registrations per second through one node, and sync
 * traffic per change, each node in its own worker thread beside one real nats-server.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { WorkerFleet } from "../fleet/fleet.js";
import { recordReplications } from "../fleet/replications.js";
import { realisticRegistration } from "../fleet/synthetic.js";
import {
  atLeast,
  atMost,
  type BenchContext,
  type BenchRow,
  percentile,
  type Scenario,
} from "../scenario.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function instanceJson(service: string, id: string): Uint8Array {
  return encoder.encode(JSON.stringify(realisticRegistration(service, id)));
}

function nodeConfig(
  url: string,
  id: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    nats: [url],
    id,
    memory: true,
    httpListen: "",
    logLevel: "warn",
    syncIntervalMs: 1_000,
    ...extra,
  };
}

/** 3,000 writes at 500/s to a 5-node fleet: from the ack to visible on every other node. */
async function propagation(url: string, context: BenchContext): Promise<BenchRow[]> {
  const size = 5;
  const writes = context.quick ? 600 : 3_000;
  const rate = 500;
  const fleet = await WorkerFleet.start(
    Array.from({ length: size }, (_, i) => ({
      config: nodeConfig(url, `p${i + 1}`),
      watchService: "prop",
    })),
  );
  const nc = await connect({ servers: url });
  const acked = new Map<string, { at: number; node: string }>();
  const seen = recordReplications(fleet);
  try {
    const pending: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < writes; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const id = `i${i}`;
      pending.push(
        nc
          .request("registry.register", instanceJson("prop", id), { timeout: 5_000 })
          .then((reply) => {
            const at = performance.timeOrigin + performance.now();
            const body = JSON.parse(decoder.decode(reply.data)) as { node: string };
            acked.set(id, { at, node: body.node });
          }),
      );
    }
    await Promise.all(pending);
    const deadline = Date.now() + 10_000;
    while (
      Date.now() < deadline &&
      [...acked.keys()].some((id) => (seen.get(id)?.size ?? 0) < size - 1)
    )
      await sleep(20);
    const latencies: number[] = [];
    let missing = 0;
    for (const [id, ack] of acked) {
      const byNode = seen.get(id);
      if (!byNode || byNode.size < size - 1) {
        missing++;
        continue;
      }
      let last = 0;
      for (const [node, at] of byNode) if (node !== ack.node) last = Math.max(last, at);
      latencies.push(Math.max(0, last - ack.at));
    }
    const note = `${writes} writes at ${rate}/s, ${size} nodes; ${missing} not seen everywhere`;
    return [
      atMost("propagation p50 (ack → all others)", percentile(latencies, 50), "ms", 5, note),
      atMost("propagation p99", percentile(latencies, 99), "ms", 20),
      { metric: "propagation max", value: Math.max(...latencies), unit: "ms" },
    ];
  } finally {
    await nc.close();
    await fleet.stop();
  }
}

/** Registrations acknowledged per second by one node, 64 requests in flight. */
async function throughput(url: string, context: BenchContext, durable: boolean): Promise<BenchRow> {
  const total = context.quick ? 10_000 : 50_000;
  const dir = mkdtempSync(join(tmpdir(), "regsync-bench-"));
  const prefix = durable ? "tpd" : "tpm";
  const fleet = await WorkerFleet.start([
    {
      config: nodeConfig(url, `t-${prefix}`, {
        subjectPrefix: prefix,
        memory: !durable,
        dataDir: join(dir, "node"),
      }),
    },
  ]);
  const nc = await connect({ servers: url });
  try {
    const bodies = Array.from({ length: total }, (_, i) =>
      instanceJson(`svc${i % 200}`, `inst-${i}`),
    );
    let next = 0;
    const started = performance.now();
    const lane = async () => {
      while (next < total) {
        const body = bodies[next++]!;
        const reply = await nc.request(`${prefix}.register`, body, { timeout: 10_000 });
        if (reply.data[6] !== 0x74)
          throw new Error(`register failed: ${decoder.decode(reply.data)}`); // {"ok":t…
      }
    };
    await Promise.all(Array.from({ length: 64 }, lane));
    const perSecond = total / ((performance.now() - started) / 1000);
    return atLeast(
      `registrations/s, one node, 64 in flight (${durable ? "LMDB, durable" : "memory"})`,
      perSecond,
      "req/s",
      15_000,
      `${total} distinct instances`,
    );
  } finally {
    await nc.close();
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function varz(
  monitorUrl: string,
): Promise<{ in_msgs: number; out_msgs: number; in_bytes: number; out_bytes: number }> {
  const response = await fetch(`${monitorUrl}/varz`);
  return (await response.json()) as {
    in_msgs: number;
    out_msgs: number;
    in_bytes: number;
    out_bytes: number;
  };
}

/**
 * Sync traffic per change for N nodes, from the server's own counters: messages and bytes in and
 * out during a run of writes, minus the client's request/reply traffic (2 in, 2 out per write)
 * and the idle announcements measured just before.
 */
async function wirePerChange(size: number, context: BenchContext): Promise<BenchRow[]> {
  const server = await startNatsServer({ monitor: true });
  const url = server.url;
  const interval = 1_000;
  const fleet = await WorkerFleet.start(
    Array.from({ length: size }, (_, i) => ({
      config: nodeConfig(url, `w${i + 1}`, { syncIntervalMs: interval }),
    })),
  );
  const nc = await connect({ servers: url });
  try {
    await sleep(1_500);
    const idleWindow = context.quick ? 2_000 : 5_000;
    const idle0 = await varz(server.monitorUrl!);
    await sleep(idleWindow);
    const idle1 = await varz(server.monitorUrl!);
    const idleInPerMs = (idle1.in_msgs - idle0.in_msgs) / idleWindow;
    const idleOutPerMs = (idle1.out_msgs - idle0.out_msgs) / idleWindow;
    const idleBytesPerMs =
      (idle1.in_bytes - idle0.in_bytes + idle1.out_bytes - idle0.out_bytes) / idleWindow;
    const changes = context.quick ? 300 : 1_000;
    const body = (i: number) => instanceJson("wire", `x${i}`);
    const t0 = performance.now();
    const before = await varz(server.monitorUrl!);
    const clientBytes = { in: 0, out: 0 };
    for (let i = 0; i < changes; i++) {
      const request = body(i);
      const reply = await nc.request("registry.register", request, { timeout: 5_000 });
      clientBytes.in += request.length + reply.data.length;
      await sleep(2);
    }
    await sleep(300);
    const after = await varz(server.monitorUrl!);
    const elapsed = performance.now() - t0;
    const msgs =
      after.in_msgs -
      before.in_msgs +
      (after.out_msgs - before.out_msgs) -
      4 * changes -
      (idleInPerMs + idleOutPerMs) * elapsed;
    const bytes =
      after.in_bytes -
      before.in_bytes +
      (after.out_bytes - before.out_bytes) -
      2 * clientBytes.in -
      idleBytesPerMs * elapsed;
    const idlePerNodePerInterval =
      ((idle1.in_msgs - idle0.in_msgs) / size) * (interval / idleWindow);
    return [
      atMost(
        `wire msgs per change, N=${size} (in + delivered)`,
        msgs / changes,
        "msgs",
        3 * (size - 1),
      ),
      { metric: `wire bytes per change, N=${size}`, value: bytes / changes, unit: "B" },
      atMost(
        `idle announcements per node per interval, N=${size}`,
        idlePerNodePerInterval,
        "msgs",
        1.2,
      ),
    ];
  } finally {
    await nc.close();
    await fleet.stop();
    await server.stop();
  }
}

const scenario: Scenario = {
  name: "fleet",
  description: "propagation latency, registrations/s through one node, sync traffic per change",
  async run(context) {
    const rows: BenchRow[] = [];
    const server = await startNatsServer();
    try {
      context.log("propagation: 5 nodes");
      rows.push(...(await propagation(server.url, context)));
      context.log("throughput: one node, memory");
      rows.push(await throughput(server.url, context, false));
      context.log("throughput: one node, durable");
      rows.push(await throughput(server.url, context, true));
    } finally {
      await server.stop();
    }
    for (const size of [3, 5, 9]) {
      context.log(`wire traffic: ${size} nodes`);
      rows.push(...(await wirePerChange(size, context)));
    }
    return rows;
  },
};

export default scenario;
