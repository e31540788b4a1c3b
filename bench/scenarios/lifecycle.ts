/**
 * A node's life as clients see it: a rolling restart of durable `regsync node` processes under
 * steady client load, an empty node joining a large fleet under the same load, read-your-writes
 * through the TypeScript client, the time a healed partition takes to converge (long, and
 * shorter than a missed period), and what an idle fleet sends after a burst of writes.
 *
 * `REGSYNC_BENCH_LIFECYCLE=join,idle` runs only those parts (ryw, roll, join, heal, idle).
 * `REGSYNC_BENCH_BASELINE_CLI=<other build>/dist/src/cli/main.js` measures the idle traffic of
 * that build too, in the same run.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection, RequestStrategy } from "nats";
import { NODE_RUNTIME_FLAGS } from "../../src/cli/runtime-flags.js";
import { RegistryClient } from "../../src/client/client.js";
import { RegistryClientError } from "../../src/client/errors.js";
import { serverTraffic } from "../../src/dev/nats-monitor.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import type { NodeStatus } from "../../src/node/status.js";
import { startCluster } from "../../test/support/cluster.js";
import { WorkerFleet } from "../fleet/fleet.js";
import { startInProcessNode } from "../fleet/in-process-node.js";
import { atMost, type BenchRow, baselineCli, median, type Scenario } from "../scenario.js";

const MAIN = resolve("dist/src/cli/main.js");
const text = new TextDecoder();
const json = new TextEncoder();

/** The default `syncIntervalMs` the partitioned nodes run with. */
const DEFAULT_SYNC_INTERVAL_MS = 5_000;

/** 500 register→deregister and 500 register→heartbeat→lookup sequences on a 3-node fleet. */
async function readYourWrites(sequences: number): Promise<BenchRow[]> {
  const server = await startNatsServer();
  const nodes = await Promise.all(
    ["w1", "w2", "w3"].map((id) => startInProcessNode(server.url, id)),
  );
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

/** A `regsync node` process; `storage` is `["--memory"]` or `["--data-dir", dir]`. */
function spawnNode(url: string, id: string, storage: readonly string[], cli = MAIN): NodeProc {
  const child = spawn(
    process.execPath,
    [
      ...NODE_RUNTIME_FLAGS,
      cli,
      "node",
      "--nats",
      url,
      "--id",
      id,
      ...storage,
      "--http-listen",
      "",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  return { id, child, exited: new Promise((r) => child.once("exit", () => r())) };
}

async function stopProcesses(procs: readonly NodeProc[]): Promise<void> {
  for (const p of procs)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
  await Promise.all(procs.map((p) => p.exited));
}

/** Every node's status; returns as soon as `expected` nodes answered, else after 300 ms. */
async function statuses(nc: NatsConnection, expected: number): Promise<NodeStatus[]> {
  const out: NodeStatus[] = [];
  try {
    const replies = await nc.requestMany("registry.status", undefined, {
      maxWait: 300,
      strategy: RequestStrategy.Count,
      maxMessages: expected,
    });
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

/** Adds the failed replies of `codes` to `byCode`; returns how many failed. */
function countErrors(codes: ReadonlyMap<string, number>, byCode: Map<string, number>): number {
  let failed = 0;
  for (const [code, c] of codes) {
    if (code === "ok") continue;
    failed += c;
    byCode.set(code, (byCode.get(code) ?? 0) + c);
  }
  return failed;
}

/**
 * Polls until node `id` says it is ready (at most `polls` rounds): the time since `started`,
 * and how many entries it lacks then against the fullest of the other `fleetSize - 1` nodes.
 */
async function untilReady(
  nc: NatsConnection,
  id: string,
  fleetSize: number,
  started: number,
  polls: number,
): Promise<{ ms: number; missing: number } | undefined> {
  for (let t = 0; t < polls; t++) {
    const all = await statuses(nc, fleetSize);
    const me = all.find((s) => s.node === id);
    if (me?.ready) {
      const others = Math.max(...all.filter((s) => s.node !== id).map((s) => s.count));
      return { ms: Date.now() - started, missing: Math.max(0, others - me.count) };
    }
    await sleep(20);
  }
  return undefined;
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
    const durable = (id: string) => ["--data-dir", join(dir, id)];
    const procs = ["r1", "r2", "r3"].map((id) => spawnNode(server.url, id, durable(id)));
    try {
      for (let t = 0; t < 200 && (await statuses(nc, 3)).filter((s) => s.ready).length < 3; t++)
        await sleep(50);
      const codes = new Map<string, number>();
      const stopLoad = clientLoad(nc, codes);
      await sleep(1_000);
      for (let i = 0; i < procs.length; i++) {
        const old = procs[i]!;
        old.child.kill("SIGTERM");
        await old.exited;
        const started = Date.now();
        procs[i] = spawnNode(server.url, old.id, durable(old.id));
        const ready = await untilReady(nc, old.id, 3, started, 600);
        if (ready !== undefined) {
          readyMs.push(ready.ms);
          missing.push(ready.missing);
        }
        await sleep(500);
      }
      await stopLoad();
      errors.push(countErrors(codes, byCode));
      log(`rolling restart run ${run + 1}: replies ${JSON.stringify(Object.fromEntries(codes))}`);
    } finally {
      await stopProcesses(procs);
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

/**
 * A 4th empty `regsync node` process (memory) joins 3 nodes holding `entries` entries while
 * clients run ~100 ops/s: client errors by code, its start to ready, entries missing at ready.
 */
async function joinUnderLoad(entries: number, log: (m: string) => void): Promise<BenchRow[]> {
  const server = await startNatsServer();
  const config = (id: string) => ({
    nats: [server.url],
    id,
    memory: true,
    httpListen: "",
    logLevel: "warn",
  });
  const fleets: WorkerFleet[] = [];
  const nc = await connect({ servers: server.url });
  let joiner: NodeProc | undefined;
  try {
    log(`filling 3 nodes with ${entries.toLocaleString("en-US")} entries`);
    fleets.push(await WorkerFleet.start([{ config: config("j1"), preload: entries }]));
    // The others bootstrap from the first, as a fleet grown one node at a time does.
    fleets.push(await WorkerFleet.start([{ config: config("j2") }, { config: config("j3") }]));
    const codes = new Map<string, number>();
    const stopLoad = clientLoad(nc, codes);
    await sleep(1_000);
    const started = Date.now();
    joiner = spawnNode(server.url, "j4", ["--memory"]);
    const ready = await untilReady(nc, "j4", 4, started, 1_000);
    // Load goes on while the new node takes its share of requests.
    await sleep(1_000);
    await stopLoad();
    const byCode = new Map<string, number>();
    const failed = countErrors(codes, byCode);
    log(`join under load: replies ${JSON.stringify(Object.fromEntries(codes))}`);
    const size = entries.toLocaleString("en-US");
    return [
      atMost(
        `4th empty node joins ${size} entries under ~100 ops/s: client errors`,
        failed,
        "count",
        0,
        `by code: ${JSON.stringify(Object.fromEntries(byCode))}; ${codes.get("ok") ?? 0} ok`,
      ),
      {
        metric: "4th node: start to ready (process start included)",
        value: ready?.ms ?? Number.NaN,
        unit: "ms",
      },
      atMost("4th node: entries missing at ready", ready?.missing ?? Number.NaN, "count", 0),
    ];
  } finally {
    if (joiner !== undefined) await stopProcesses([joiner]);
    await nc.close();
    for (const fleet of fleets) await fleet.stop();
    await server.stop();
  }
}

/**
 * What 4 `regsync node` processes (memory) send for 20 writes and the 3 s after them, then per
 * minute once idle: messages published to the server and bytes through it. The first figure
 * shows whatever the writes leave behind (announcements while a peer owes an echo).
 */
async function idleTraffic(
  windowMs: number,
  cli: string,
): Promise<{ settleMessages: number; messagesPerMinute: number; kBPerMinute: number }> {
  const server = await startNatsServer({ monitor: true });
  const procs = ["i1", "i2", "i3", "i4"].map((id) => spawnNode(server.url, id, ["--memory"], cli));
  const nc = await connect({ servers: server.url });
  const traffic = async () => {
    const t = await serverTraffic(server);
    if (t === undefined) throw new Error("no /varz from the server");
    return t;
  };
  try {
    for (let t = 0; t < 200 && (await statuses(nc, 4)).filter((s) => s.ready).length < 4; t++)
      await sleep(50);
    await sleep(1_000);
    const client = new RegistryClient(nc, { timeoutMs: 5_000 });
    const start = await traffic();
    for (let i = 0; i < 20; i++)
      await client.register(
        // Leases that outlast the window: an expiry is a write, and the window is for idling.
        { service: "idle", id: `i${i}`, host: "h", port: 1, ttlMs: 600_000 },
        { keepAlive: false },
      );
    await sleep(3_000);
    const settled = await traffic();
    await sleep(windowMs);
    const end = await traffic();
    const perMinute = 60_000 / windowMs;
    return {
      settleMessages: settled.inMsgs - start.inMsgs,
      messagesPerMinute: (end.inMsgs - settled.inMsgs) * perMinute,
      kBPerMinute:
        ((end.inBytes - settled.inBytes + end.outBytes - settled.outBytes) * perMinute) / 1_000,
    };
  } finally {
    await nc.close();
    await stopProcesses(procs);
    await server.stop();
  }
}

async function idleRows(windowMs: number): Promise<BenchRow[]> {
  const builds: [string, string][] = [["", MAIN]];
  const baseline = baselineCli();
  if (baseline) builds.push([", baseline build", baseline]);
  const rows: BenchRow[] = [];
  for (const [which, cli] of builds) {
    const t = await idleTraffic(windowMs, cli);
    const note = `4 nodes, default syncIntervalMs${which ? `; ${cli}` : ""}`;
    rows.push(
      {
        metric: `20 writes and the 3 s after${which}: messages published`,
        value: t.settleMessages,
        unit: "msgs",
        note: `${note}; requests and replies included`,
      },
      {
        metric: `idle fleet${which}: messages published per minute`,
        value: t.messagesPerMinute,
        unit: "msgs",
        note: `${note}; ${windowMs / 1_000} s window`,
      },
      {
        metric: `idle fleet${which}: bytes through the server per minute`,
        value: t.kBPerMinute,
        unit: "kB",
        note: "in and out",
      },
    );
  }
  return rows;
}

/**
 * `runs` partitions of `partitionMs` healed (`healOnce`): the slowest and the median time from
 * the route restored to equal digests. Periodic announcements fall anywhere in a partition, so
 * one run may converge early by luck; the slowest of several shows what the fast path owes.
 */
async function partitionHeal(
  partitionMs: number,
  runs: number,
  kind: string,
  log: (m: string) => void,
): Promise<BenchRow[]> {
  const converge: number[] = [];
  const route: number[] = [];
  for (let run = 0; run < runs; run++) {
    const heal = await healOnce(partitionMs);
    converge.push(heal.convergeMs);
    route.push(heal.routeMs);
  }
  log(`partition of ${partitionMs / 1000} s: route → equal digests ${converge.join(", ")} ms`);
  return [
    atMost(
      `partition of ${partitionMs / 1000} s (${kind}) healed: route restored → equal digests, slowest of ${runs}`,
      Math.max(...converge),
      "ms",
      1_000,
      `median ${median(converge)} ms; default settings; the route itself came back ${median(route)} ms after the heal (median)`,
    ),
  ];
}

/**
 * A 2-server cluster partitioned for `partitionMs`, writes on both sides at its start and none
 * after, then healed.
 */
async function healOnce(partitionMs: number): Promise<{ convergeMs: number; routeMs: number }> {
  const cluster = await startCluster(2, { proxiedRoutes: true });
  const a = await startInProcessNode(cluster.urls[0]!, "pa");
  const b = await startInProcessNode(cluster.urls[1]!, "pb");
  const ncs = await Promise.all(cluster.urls.map((url) => connect({ servers: url })));
  try {
    // At a random point of the announcement period: nodes announce as they start, so a
    // partition begun at once would always end just before their first periodic announcement.
    await sleep(Math.random() * DEFAULT_SYNC_INTERVAL_MS);
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
    return { convergeMs: Math.max(0, converged - route), routeMs: route - healed };
  } finally {
    await Promise.allSettled(ncs.map((nc) => nc.close()));
    await Promise.allSettled([a.stop(), b.stop()]);
    await cluster.stop();
  }
}

const scenario: Scenario = {
  name: "lifecycle",
  description:
    "rolling restart and a node joining under load, read-your-writes, partition heal time, idle traffic",
  async run({ quick, log }) {
    const part = selectedParts();
    const rows: BenchRow[] = [];
    if (part("ryw")) rows.push(...(await readYourWrites(quick ? 100 : 500)));
    if (part("roll")) rows.push(...(await rollingRestart(quick ? 1 : 3, log)));
    if (part("join")) rows.push(...(await joinUnderLoad(quick ? 20_000 : 200_000, log)));
    if (part("heal")) {
      // Longer than a missed period (the silence watch), then shorter (the missing echo).
      rows.push(...(await partitionHeal(10_000, 1, "longer than a missed period", log)));
      const quiet = "quiet, shorter than a missed period";
      rows.push(...(await partitionHeal(3_000, quick ? 3 : 5, quiet, log)));
    }
    if (part("idle")) rows.push(...(await idleRows(quick ? 15_000 : 60_000)));
    return rows;
  },
};

const PARTS = ["ryw", "roll", "join", "heal", "idle"];

/** `REGSYNC_BENCH_LIFECYCLE=join,idle`: only those parts. */
function selectedParts(): (name: string) => boolean {
  const only = process.env.REGSYNC_BENCH_LIFECYCLE;
  if (!only) return () => true;
  const names = only.split(",").map((n) => n.trim());
  const unknown = names.filter((n) => !PARTS.includes(n));
  if (unknown.length > 0)
    throw new Error(
      `REGSYNC_BENCH_LIFECYCLE: unknown ${unknown.join(", ")} (parts: ${PARTS.join(", ")})`,
    );
  return (name) => names.includes(name);
}

export default scenario;
