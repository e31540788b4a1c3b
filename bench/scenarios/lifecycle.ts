/**
 * A node's life as clients see it (issue 11): a rolling restart of durable `regsync node`
 * processes under steady client load, read-your-writes through the TypeScript client, and the
 * time a healed partition takes to converge.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect, type NatsConnection } from "nats";
import { RegistryClient } from "../../src/client/client.js";
import { RegistryClientError } from "../../src/client/errors.js";
import { parseNodeConfig } from "../../src/config/load.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import type { NodeStatus } from "../../src/node/status.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { startCluster } from "../../test/support/cluster.js";
import { atMost, type BenchRow, median, type Scenario } from "../scenario.js";

const MAIN = resolve("dist/src/cli/main.js");
const text = new TextDecoder();
const json = new TextEncoder();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function inProcessNode(
  url: string,
  id: string,
  extra: Partial<NodeConfigInput> = {},
): Promise<RegistryNode> {
  const config = parseNodeConfig({
    nats: [url],
    id,
    memory: true,
    httpListen: "",
    logLevel: "silent",
    ...extra,
  });
  const node = new RegistryNode({ config, codec: createSyncCodec(config) });
  await node.start();
  return node;
}

/** 500 register→deregister and 500 register→heartbeat→lookup sequences on a 3-node fleet. */
async function readYourWrites(sequences: number): Promise<BenchRow[]> {
  const server = await startNatsServer();
  const nodes = await Promise.all(["w1", "w2", "w3"].map((id) => inProcessNode(server.url, id)));
  const nc = await connect({ servers: server.url });
  try {
    const client = new RegistryClient(nc);
    let noEffect = 0;
    let notSeen = 0;
    for (let i = 0; i < sequences; i++) {
      await client.register(
        { service: "dereg", id: `d${i}`, host: "h", port: 1 },
        { keepAlive: false },
      );
      await client.deregister("dereg", `d${i}`);
      await client.register(
        { service: "own", id: `o${i}`, host: "h", port: 1 },
        { keepAlive: false },
      );
      try {
        await client.heartbeat("own", `o${i}`);
      } catch {
        notSeen++;
      }
      if (!(await client.lookup("own")).some((x) => x.id === `o${i}`)) notSeen++;
    }
    // Settled: an acked deregister without effect still lists the instance everywhere.
    await sleep(500);
    for (let i = 0; i < sequences; i++)
      if (
        nodes.some((n) =>
          n.store.lookup({ service: "dereg" }, Date.now()).some((e) => e.id === `d${i}`),
        )
      )
        noEffect++;
    return [
      atMost(`acked deregisters without effect (of ${sequences})`, noEffect, "count", 0),
      atMost(`own writes not seen (heartbeat + lookup, of ${2 * sequences})`, notSeen, "count", 0),
    ];
  } finally {
    await nc.close();
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await server.stop();
  }
}

interface NodeProc {
  id: string;
  child: ChildProcess;
  exited: Promise<void>;
}

function spawnNode(url: string, id: string, dataDir: string): NodeProc {
  const child = spawn(
    process.execPath,
    [
      MAIN,
      "node",
      "--nats",
      url,
      "--id",
      id,
      "--data-dir",
      dataDir,
      "--http-listen",
      "",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  return { id, child, exited: new Promise((r) => child.once("exit", () => r())) };
}

async function statuses(nc: NatsConnection): Promise<NodeStatus[]> {
  const out: NodeStatus[] = [];
  try {
    const replies = await nc.requestMany("registry.status", undefined, { maxWait: 300 });
    for await (const m of replies) out.push(JSON.parse(text.decode(m.data)));
  } catch {
    // no node up
  }
  return out;
}

/** Steady client load (~100 ops/s) until stopped; counts replies by code. */
function clientLoad(nc: NatsConnection, codes: Map<string, number>): () => Promise<void> {
  const client = new RegistryClient(nc, { timeoutMs: 5_000 });
  let running = true;
  let n = 0;
  const count = (code: string) => codes.set(code, (codes.get(code) ?? 0) + 1);
  const loop = (async () => {
    while (running) {
      const id = `load-${n % 200}`;
      const op = n++ % 4;
      try {
        if (op === 0)
          await client.register({ service: "load", id, host: "h", port: 1 }, { keepAlive: false });
        else if (op === 1) await client.heartbeat("load", `load-${(n - 2) % 200}`);
        else if (op === 2) await client.lookup("load");
        else await client.deregister("load", `load-${(n - 4) % 200}`);
        count("ok");
      } catch (error) {
        count(error instanceof RegistryClientError ? error.code : "other");
      }
      await sleep(10);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/** Rolls 3 durable node processes one by one with SIGTERM under load. */
async function rollingRestart(runs: number, log: (m: string) => void): Promise<BenchRow[]> {
  const errors: number[] = [];
  const readyMs: number[] = [];
  const missing: number[] = [];
  const byCode = new Map<string, number>();
  for (let run = 0; run < runs; run++) {
    const server = await startNatsServer();
    const dir = mkdtempSync(join(tmpdir(), "regsync-roll-"));
    const nc = await connect({ servers: server.url });
    const procs = ["r1", "r2", "r3"].map((id) => spawnNode(server.url, id, join(dir, id)));
    try {
      for (let t = 0; t < 200 && (await statuses(nc)).filter((s) => s.ready).length < 3; t++)
        await sleep(50);
      const codes = new Map<string, number>();
      const stopLoad = clientLoad(nc, codes);
      await sleep(1_000);
      for (let i = 0; i < procs.length; i++) {
        const old = procs[i]!;
        old.child.kill("SIGTERM");
        await old.exited;
        const started = Date.now();
        procs[i] = spawnNode(server.url, old.id, join(dir, old.id));
        for (let t = 0; t < 600; t++) {
          const all = await statuses(nc);
          const me = all.find((s) => s.node === old.id);
          if (me?.ready) {
            readyMs.push(Date.now() - started);
            const others = Math.max(...all.filter((s) => s.node !== old.id).map((s) => s.count));
            missing.push(Math.max(0, others - me.count));
            break;
          }
          await sleep(20);
        }
        await sleep(500);
      }
      await stopLoad();
      let failed = 0;
      for (const [code, c] of codes) {
        if (code === "ok") continue;
        failed += c;
        byCode.set(code, (byCode.get(code) ?? 0) + c);
      }
      errors.push(failed);
      log(`rolling restart run ${run + 1}: replies ${JSON.stringify(Object.fromEntries(codes))}`);
    } finally {
      for (const p of procs) p.child.kill("SIGTERM");
      await Promise.all(procs.map((p) => p.exited));
      await nc.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return [
    atMost(
      `rolling restart, 3 durable nodes: client errors per run (median of ${runs})`,
      median(errors),
      "count",
      0,
      `by code: ${JSON.stringify(Object.fromEntries(byCode))}`,
    ),
    {
      metric: "rolling restart: time to ready per node (median)",
      value: median(readyMs),
      unit: "ms",
    },
    atMost("rolling restart: entries missing at ready (max)", Math.max(...missing), "count", 0),
  ];
}

/** A 2-server cluster partitioned for `partitionMs`, writes on both sides, then healed. */
async function partitionHeal(partitionMs: number): Promise<BenchRow[]> {
  const cluster = await startCluster(2, { proxiedRoutes: true });
  const a = await inProcessNode(cluster.urls[0]!, "pa");
  const b = await inProcessNode(cluster.urls[1]!, "pb");
  const ncs = await Promise.all(cluster.urls.map((url) => connect({ servers: url })));
  try {
    cluster.partition([0]);
    await sleep(200);
    for (let i = 0; i < 20; i++)
      for (const [side, nc] of ncs.entries())
        await nc.request(
          "registry.register",
          json.encode(
            JSON.stringify({ service: "split", id: `s${side}-${i}`, host: "h", port: 1 }),
          ),
        );
    await sleep(partitionMs);
    const healed = Date.now();
    cluster.heal();
    // The route's own reconnect is NATS's (about a second); what regsync owes starts when the
    // route is up again.
    let routeAt: number | undefined;
    let equalAt: number | undefined;
    const equal = () => a.store.digest().digest === b.store.digest().digest;
    while ((routeAt === undefined || equalAt === undefined) && Date.now() - healed < 30_000) {
      if (equalAt === undefined && equal()) equalAt = Date.now();
      if (routeAt === undefined && (await cluster.connected(0, 1))) routeAt = Date.now();
      await sleep(5);
    }
    const route = routeAt ?? Number.NaN;
    const converged = equalAt ?? Number.NaN;
    return [
      atMost(
        `partition of ${partitionMs / 1000} s healed: route restored → equal digests`,
        Math.max(0, converged - route),
        "ms",
        1_000,
        `default settings; the route itself came back ${route - healed} ms after the heal`,
      ),
    ];
  } finally {
    await Promise.allSettled(ncs.map((nc) => nc.close()));
    await Promise.allSettled([a.stop(), b.stop()]);
    await cluster.stop();
  }
}

const scenario: Scenario = {
  name: "lifecycle",
  description:
    "rolling restart under load, read-your-writes through the client, partition heal time",
  async run({ quick, log }) {
    const rows: BenchRow[] = [];
    rows.push(...(await readYourWrites(quick ? 100 : 500)));
    rows.push(...(await rollingRestart(quick ? 1 : 3, log)));
    rows.push(...(await partitionHeal(10_000)));
    return rows;
  },
};

export default scenario;
