/**
 * The systems the writes bench compares, each behind one interface: a fleet of `regsync node`
 * processes beside one nats-server, or a JetStream KV bucket on one server (R1) or a 3-server
 * cluster (R3), file storage. The same client code drives both.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type KV, KvWatchInclude, type NatsConnection, StorageType } from "nats";
import { startNatsCluster } from "../../src/dev/nats-cluster.js";
import { type NatsServerHandle, startNatsServer } from "../../src/dev/nats-server.js";
import { connectionOptions } from "../../src/nats/connection.js";
import { syntheticInstance } from "../fleet/synthetic.js";
import { HeadsProbe } from "./heads-probe.js";
import { counterSum, type NodeProcess, startNodeProcess } from "./node-process.js";
import { fleetCpuMicros } from "./process-cpu.js";

/** Leases long enough that nothing expires during a run. */
const LEASE_MS = 600_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** How long a run waits after its last ack for the replicas to catch up. */
const SETTLE_TIMEOUT_MS = 10_000;

/**
 * Every connection of the load generator, regsync's and the KV's alike, is opened as
 * `RegistryClient.connect()` opens its own (no async traces: two fewer stacks captured per
 * request), so the client takes as little of the two cores the systems measured share.
 */
function loadConnection(url: string): Promise<NatsConnection> {
  return connect(connectionOptions({ servers: [url], name: "bench-load" }));
}

export interface Propagation {
  /** From each write's ack until every replica (or the watcher) has it, ms. */
  latenciesMs: number[];
  /** Writes never seen everywhere. */
  missing: number;
  note: string;
}

export interface WriteTarget {
  readonly label: string;
  /** Writes instance `index` and resolves when it is acknowledged. */
  write(index: number): Promise<void>;
  /** Processes whose CPU time counts as the system's: the nodes, or the JetStream servers. */
  readonly pids: readonly number[];
  /** Processes that carry traffic but are not the system measured (regsync's nats-server). */
  readonly helperPids: readonly number[];
  /** Questions the propagation probe has asked so far (0 where watching costs no questions). */
  probeQuestions(): number;
  /** The fleet's CPU per probe question, measured idle by `watch` (0 without a probe). */
  readonly probeMicrosPerQuestion: number;
  /** Starts watching replication; `acked` writes are already everywhere. */
  watch(acked: number): Promise<void>;
  /** Stops watching and matches acks (in arrival order) to when replicas held them. */
  propagation(ackTimes: readonly number[], ackOrder: readonly number[]): Promise<Propagation>;
  stop(): Promise<void>;
}

const encoder = new TextEncoder();

/** Instance `index` as a client registers it: ~300 bytes of JSON. */
export function registrationBody(index: number): Uint8Array {
  return encoder.encode(JSON.stringify(syntheticInstance(index, LEASE_MS)));
}

function kvKey(index: number): string {
  const instance = syntheticInstance(index, LEASE_MS);
  // KV keys allow [-/_=.A-Za-z0-9]: the id's port separator becomes '_'.
  return `${instance.service}.${instance.id.replaceAll(":", "_")}`;
}

export async function regsyncFleet(
  size: number,
  durable: boolean,
  label: string,
  cli?: string,
): Promise<WriteTarget> {
  const server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), "regsync-bench-writes-"));
  const nodes: NodeProcess[] = [];
  let nc: NatsConnection | undefined;
  let probe: HeadsProbe | undefined;
  const stop = async () => {
    probe?.close();
    await nc?.close();
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = await Promise.all(
      Array.from({ length: size }, (_, i) =>
        startNodeProcess({
          id: `w${i + 1}`,
          natsUrl: server.url,
          dataDir: durable ? join(dir, `w${i + 1}`) : undefined,
          cli,
        }),
      ),
    );
    nodes.push(...started);
    const conn = await loadConnection(server.url);
    nc = conn;
    const heads = new HeadsProbe(conn, "registry.sync.heads", size);
    probe = heads;
    let watchedFrom = 0;
    let microsPerQuestion = 0;
    const pids = nodes.map((n) => n.pid);
    return {
      label,
      probeQuestions: () => heads.questions,
      get probeMicrosPerQuestion() {
        return microsPerQuestion;
      },
      pids,
      helperPids: [server.pid],
      async write(index) {
        const reply = await conn.request("registry.register", registrationBody(index), {
          timeout: REQUEST_TIMEOUT_MS,
        });
        // {"ok":true… : the seventh byte is the 't' of true.
        if (reply.data[6] !== 0x74)
          throw new Error(`register failed: ${new TextDecoder().decode(reply.data)}`);
      },
      async watch(acked) {
        await settle(heads, acked);
        watchedFrom = acked;
        microsPerQuestion = await calibrate(heads, pids);
        heads.start();
      },
      async propagation(ackTimes) {
        const total = watchedFrom + ackTimes.length;
        const deadline = Date.now() + SETTLE_TIMEOUT_MS;
        while (Date.now() < deadline && heads.everywhereAt(total) === undefined) await sleep(5);
        await heads.stop();
        const latenciesMs: number[] = [];
        let missing = 0;
        ackTimes.forEach((ackedAt, k) => {
          const at = heads.everywhereAt(watchedFrom + k + 1);
          if (at === undefined) missing++;
          else latenciesMs.push(Math.max(0, at - ackedAt));
        });
        await heads.ask();
        const converged = heads.converged();
        return {
          latenciesMs,
          missing,
          note: `ack → every node holds as many entries; digests ${converged ? "equal" : "DIFFER"} after${await batching(nodes)}`,
        };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * How the fleet batched, on average over the run (warm-up included): writes per inline
 * announcement to each peer, the share of peers' entries that came by pulls instead (a node
 * that fell behind its peer's announcements) and, for durable nodes, records per transaction
 * and the share of transactions spaced out under CPU pressure.
 */
async function batching(nodes: readonly NodeProcess[]): Promise<string> {
  const texts = await Promise.all(nodes.map((n) => n.metrics()));
  const notes: string[] = [];
  if (nodes.length > 1) {
    const received = counterSum(texts, 'regsync_announcements_total{direction="in",inline="true"}');
    const applied = counterSum(texts, 'regsync_entries_applied_total{path="inline"}');
    notes.push(`${(applied / Math.max(1, received)).toFixed(1)} writes per inline announcement`);
    const caughtUp =
      counterSum(texts, 'regsync_entries_applied_total{path="pull"}') +
      counterSum(texts, 'regsync_entries_applied_total{path="reconcile"}');
    notes.push(`${percent(caughtUp, applied + caughtUp)} of peers' entries pulled`);
  }
  const transactions = counterSum(texts, "regsync_storage_transactions_total");
  if (transactions > 0) {
    const records = counterSum(texts, "regsync_storage_records_total");
    const spaced = counterSum(texts, "regsync_storage_spaced_transactions_total");
    notes.push(
      `${(records / transactions).toFixed(1)} records per transaction, ${percent(spaced, transactions)} spaced out`,
    );
  }
  return notes.map((note) => `; ${note}`).join("");
}

function percent(part: number, whole: number): string {
  return `${whole === 0 ? 0 : Math.round((100 * part) / whole)}%`;
}

/** How long each half of the probe's calibration lasts. */
const CALIBRATION_MS = 600;

/**
 * The fleet's CPU per heads question: its CPU rate with the probe asking back to back, less
 * its rate without, over the questions asked. /proc counts in 10 ms ticks, hence the length.
 */
async function calibrate(heads: HeadsProbe, pids: readonly number[]): Promise<number> {
  const rate = async (during: () => Promise<void>) => {
    const before = fleetCpuMicros(pids);
    const started = performance.now();
    await during();
    return (fleetCpuMicros(pids) - before) / (performance.now() - started);
  };
  const quiet = await rate(() => sleep(CALIBRATION_MS));
  const asked = heads.questions;
  heads.start();
  const probed = await rate(() => sleep(CALIBRATION_MS));
  await heads.stop();
  const questions = heads.questions - asked;
  return questions === 0 ? 0 : Math.max(0, ((probed - quiet) * CALIBRATION_MS) / questions);
}

/** Waits until every node holds `count` entries with equal digests. */
async function settle(heads: HeadsProbe, count: number): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    await heads.ask();
    const counts = [...heads.latest.values()].map((h) => h.count);
    if (heads.converged() && counts.every((c) => c === count)) return;
    if (Date.now() > deadline)
      throw new Error(`replicas did not settle at ${count} entries: ${counts.join(", ")}`);
    await sleep(20);
  }
}

export async function jetStreamKv(replicas: 1 | 3, label: string): Promise<WriteTarget> {
  const servers: NatsServerHandle[] = [];
  let stopServers: () => Promise<void>;
  if (replicas === 1) {
    const server = await startNatsServer({ jetstream: true });
    servers.push(server);
    stopServers = () => server.stop();
  } else {
    const cluster = await startNatsCluster({ size: 3, jetstream: true });
    servers.push(...cluster.servers);
    stopServers = () => cluster.stop();
  }
  const connections: NatsConnection[] = [];
  const stop = async () => {
    await Promise.allSettled(connections.map((c) => c.close()));
    await stopServers();
  };
  try {
    const nc = await loadConnection(servers[0]!.url);
    connections.push(nc);
    // The watcher has its own connection (to another server in the cluster), as a consumer would.
    const watcherNc = await loadConnection(servers[servers.length - 1]!.url);
    connections.push(watcherNc);
    const kv: KV = await createBucket(nc, replicas);
    const watcherKv = await watcherNc.jetstream().views.kv("writes");
    const seenAt = new Map<string, number>();
    let watcher: Awaited<ReturnType<KV["watch"]>> | undefined;
    let watching: Promise<void> | undefined;
    return {
      label,
      pids: servers.map((s) => s.pid),
      helperPids: [],
      probeQuestions: () => 0,
      probeMicrosPerQuestion: 0,
      async write(index) {
        await kv.put(kvKey(index), registrationBody(index));
      },
      async watch() {
        watcher = await watcherKv.watch({ include: KvWatchInclude.UpdatesOnly });
        const iterator = watcher;
        watching = (async () => {
          for await (const entry of iterator) {
            if (!seenAt.has(entry.key)) seenAt.set(entry.key, performance.now());
          }
        })();
      },
      async propagation(ackTimes, ackOrder) {
        const deadline = Date.now() + SETTLE_TIMEOUT_MS;
        const keys = ackOrder.map(kvKey);
        while (Date.now() < deadline && keys.some((k) => !seenAt.has(k))) await sleep(20);
        watcher?.stop();
        await watching;
        const latenciesMs: number[] = [];
        let missing = 0;
        keys.forEach((key, k) => {
          const at = seenAt.get(key);
          if (at === undefined) missing++;
          else latenciesMs.push(Math.max(0, at - ackTimes[k]!));
        });
        return { latenciesMs, missing, note: "ack → a watcher on another server sees it" };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function createBucket(nc: NatsConnection, replicas: number): Promise<KV> {
  // A new cluster elects its JetStream meta leader a moment after the routes come up.
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await nc
        .jetstream()
        .views.kv("writes", { history: 1, replicas, storage: StorageType.File });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}
