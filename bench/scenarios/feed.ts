/**
 * Feed: what a consumer of the change feed gets under churn and failures. A 3-server NATS cluster
 * (routes through proxies, so one server can be partitioned away) and four registry nodes; for
 * 60 s (quick: 24 s) a writer registers, deregisters and adds short leases that are never renewed,
 * while two nodes are killed (and replaced by fresh ones), one durable node restarts, and its
 * server is partitioned away for 10 s (quick: 4 s). Watches follow four services from the first
 * server; a raw subscriber there counts every notification.
 *
 * Figures: events missed, duplicated and out of order per watch (targets 0); `expired` events
 * per lapsed lease, fleet-wide (target exactly 1 for every lease); resyncs per
 * watch by reason and bytes per differential resync against a full snapshot; and the final view
 * of each watch against a lookup on every node (identical).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { RegistryClient, type Watch, type WatchEvent } from "../../src/client/mod.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import { CHANGE_HEADERS } from "../../src/contract/headers.js";
import { type Entry, lastHeartbeatOf } from "../../src/core/mod.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { startCluster } from "../../test/support/cluster.js";
import { startInProcessNode } from "../fleet/in-process-node.js";
import { atMost, type BenchRow, exactly, type Scenario } from "../scenario.js";

const decoder = new TextDecoder();
const SERVICES = ["s0", "s1", "s2", "s3", "s4", "s5"];
const WATCHED = SERVICES.slice(0, 4);
/** A watched service that hardly changes, as most services do: what a resync costs there. */
const STEADY = "steady";
const IDS_PER_SERVICE = 40;

/** Quick to notice changes and failures, so a 60 s run sees many of them. */
const FEED_SYNC: Partial<NodeConfigInput> = {
  syncIntervalMs: 500,
  pullTimeoutMs: 500,
  sweepIntervalMs: 200,
  retryMaxMs: 1_000,
  suspectProbeMs: 2_000,
};

function startRegistryNode(url: string, id: string, extra: Partial<NodeConfigInput> = {}) {
  return startInProcessNode(url, id, { ...FEED_SYNC, ...extra });
}

/** Gone without a goodbye, as a killed process: its connection drops, its timers stop. */
async function kill(node: RegistryNode): Promise<void> {
  await node.connection.close().catch(() => {});
  await node.stop().catch(() => {});
}

interface WatchRecord {
  service: string;
  watch: Watch;
  events: WatchEvent[];
}

const scenario: Scenario = {
  name: "feed",
  description:
    "change feed under writes, deregistrations, short leases, kills, a durable restart and a partition",
  async run(context) {
    const scale = context.quick ? 0.4 : 1;
    const seconds = 60 * scale;
    const at = (s: number) => s * scale * 1000;
    const dir = mkdtempSync(join(tmpdir(), "regsync-bench-feed-"));
    const cluster = await startCluster(3, { proxiedRoutes: true });
    const [url0, url1, url2] = cluster.urls as [string, string, string];
    const nodes = new Map<string, RegistryNode>();
    const durable = { memory: false, dataDir: join(dir, "n4") };
    for (const [id, url] of [
      ["n1", url0],
      ["n2", url0],
      ["n3", url1],
    ] as const)
      nodes.set(id, await startRegistryNode(url, id));
    nodes.set("n4", await startRegistryNode(url2, "n4", durable));

    const observer = await connect({ servers: url0 });
    const writerNc = await connect({ servers: [url0, url1] });
    const raw: { type: string; service: string; id: string; version: number }[] = [];
    observer.subscribe("registry.changes.>", {
      callback: (_err, msg) => {
        raw.push(JSON.parse(decoder.decode(msg.data)) as (typeof raw)[number]);
      },
    });
    await observer.flush();
    // `expired` counted fleet-wide: a subscriber on every server, so what the partitioned side
    // publishes during the split is counted too, each notification once by its numbering.
    const expiredSeen = new Set<string>();
    const expiredCounts = new Map<string, number>();
    const expiryWatchers = await Promise.all(cluster.urls.map((url) => connect({ servers: url })));
    for (const nc of expiryWatchers) {
      nc.subscribe("registry.changes.>", {
        callback: (_err, msg) => {
          const event = JSON.parse(decoder.decode(msg.data)) as {
            type: string;
            service: string;
            id: string;
          };
          if (event.type !== "expired") return;
          const h = msg.headers;
          // Numbered per service, per publisher and feed epoch.
          const mark = `${event.service}/${h?.get(CHANGE_HEADERS.node)}/${h?.get(CHANGE_HEADERS.epoch)}/${h?.get(CHANGE_HEADERS.seq)}`;
          if (expiredSeen.has(mark)) return;
          expiredSeen.add(mark);
          const key = `${event.service}/${event.id}`;
          expiredCounts.set(key, (expiredCounts.get(key) ?? 0) + 1);
        },
      });
      await nc.flush();
    }
    const client = new RegistryClient(observer, { timeoutMs: 2_000 });
    const writer = new RegistryClient(writerNc, { timeoutMs: 2_000 });
    for (let i = 0; i < IDS_PER_SERVICE; i++)
      await writer.register(
        {
          service: STEADY,
          id: `st${i}`,
          host: "10.0.0.3",
          port: 7000,
          status: "running",
          ttlMs: 600_000,
          tags: { zone: "eu-west-1a", team: "platform" },
        },
        { keepAlive: false },
      );
    const watches: WatchRecord[] = [];
    for (const service of [...WATCHED, STEADY]) {
      const events: WatchEvent[] = [];
      const watch = await client.watch(service, (e) => events.push(e), { onError: () => {} });
      watches.push({ service, watch, events });
    }

    const shortLeases = new Set<string>();
    let writes = 0;
    let failed = 0;
    let stop = false;
    const started = Date.now();
    const writing = (async () => {
      let n = 0;
      while (!stop) {
        n++;
        if (n % 250 === 0)
          await writer
            .register(
              {
                service: STEADY,
                id: `st${n % IDS_PER_SERVICE}`,
                host: "10.0.0.3",
                port: 7001,
                status: "running",
                ttlMs: 600_000,
              },
              { keepAlive: false },
            )
            .catch(() => failed++);
        const service = SERVICES[n % SERVICES.length]!;
        const roll = Math.random();
        try {
          if (roll < 0.55) {
            const id = `i${Math.floor(Math.random() * IDS_PER_SERVICE)}`;
            await writer.register(
              {
                service,
                id,
                host: "10.0.0.1",
                port: 8000 + (n % 100),
                status: "running",
                ttlMs: 300_000,
              },
              { keepAlive: false },
            );
          } else if (roll < 0.75) {
            await writer.deregister(service, `i${Math.floor(Math.random() * IDS_PER_SERVICE)}`);
          } else {
            const id = `short${n}`;
            await writer.register(
              { service, id, host: "10.0.0.2", port: 9000, status: "running", ttlMs: 1_500 },
              { keepAlive: false },
            );
            shortLeases.add(`${service}/${id}`);
          }
          writes++;
        } catch {
          failed++;
        }
        await sleep(20);
      }
    })();

    const timeline: [number, string, () => Promise<void>][] = [
      [at(10), "kill n2", async () => kill(nodes.get("n2")!)],
      [
        at(16),
        "start n5 (replaces n2)",
        async () => void nodes.set("n5", await startRegistryNode(url0, "n5")),
      ],
      [
        at(22),
        "durable restart of n4",
        async () => {
          await nodes.get("n4")!.stop();
          nodes.set("n4", await startRegistryNode(url2, "n4", durable));
        },
      ],
      [at(30), "kill n3", async () => kill(nodes.get("n3")!)],
      [
        at(36),
        "start n6 (replaces n3)",
        async () => void nodes.set("n6", await startRegistryNode(url1, "n6")),
      ],
      [at(42), "partition server 2 (n4) away", async () => cluster.partition([2])],
      [at(42) + 10_000 * scale, "heal", async () => cluster.heal()],
    ];
    for (const [when, what, action] of timeline) {
      const wait = started + when - Date.now();
      if (wait > 0) await sleep(wait);
      context.log(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
      await action();
    }
    const wait = started + seconds * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    stop = true;
    await writing;
    context.log(`writes ${writes}, failed ${failed}; settling`);
    // Let every short lease lapse and be reported, and the fleet converge.
    await sleep(4_000);
    const live = ["n1", "n4", "n5", "n6"].map((id) => nodes.get(id)!);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !converged(live)) await sleep(200);
    await sleep(1_000);

    const rows: BenchRow[] = [];
    let missed = 0;
    let duplicated = 0;
    let outOfOrder = 0;
    let mismatched = 0;
    let endedEarly = 0;
    const reasons = { gap: 0, reconnect: 0, interval: 0 };
    let diffBytes = 0;
    let gapBytes = 0;
    let gapCount = 0;
    let steady = { resyncs: 0, bytes: 0, full: 1 };
    let diffCount = 0;
    let fullBytes = 0;
    for (const { service, watch, events } of watches) {
      const newest = new Map<string, number>();
      const lastType = new Map<string, WatchEvent["type"]>();
      const delivered = new Set<string>();
      for (const e of events) {
        if (e.version < (newest.get(e.id) ?? 0)) outOfOrder++;
        newest.set(e.id, Math.max(e.version, newest.get(e.id) ?? 0));
        lastType.set(e.id, e.type);
        const key = `${e.type}/${e.id}/${e.version}`;
        if (!e.synthetic && delivered.has(key)) duplicated++;
        delivered.add(key);
      }
      // A change is missed when the watch never reached its version for that instance; a
      // deletion is not missed when the watch had already delivered the instance's end (a resync
      // that saw the lease lapse before its `expired` notification arrived).
      for (const r of raw) {
        if (r.service !== service || (newest.get(r.id) ?? -1) >= r.version) continue;
        const deletion = r.type === "expired" || r.type === "deregistered";
        const ended = lastType.get(r.id) === "expired" || lastType.get(r.id) === "deregistered";
        if (deletion && ended) {
          endedEarly++;
          continue;
        }
        missed++;
        if (missed <= 5) context.log(`missed ${JSON.stringify({ ...r, instance: undefined })}`);
      }
      const stats = watch.stats();
      reasons.gap += stats.resyncs.gap;
      reasons.reconnect += stats.resyncs.reconnect;
      reasons.interval += stats.resyncs.interval;
      const later = stats.resyncs.gap + stats.resyncs.reconnect + stats.resyncs.interval;
      const full = (await client.snapshotSince(service)).bytes;
      if (service === STEADY) {
        steady = { resyncs: later, bytes: stats.resyncBytes - stats.startBytes, full };
      } else {
        diffCount += later;
        diffBytes += stats.resyncBytes - stats.startBytes;
        gapBytes += stats.bytesByReason.gap;
        gapCount += stats.resyncs.gap;
        fullBytes += full;
      }
      const view = fingerprint(watch.instances());
      for (const node of live) {
        if (fingerprint(node.store.lookup({ service }, Date.now()).map(asInstance)) !== view)
          mismatched++;
      }
    }
    const counts = expiredCounts;
    let once = 0;
    let never = 0;
    let twice = 0;
    for (const key of shortLeases) {
      const c = counts.get(key) ?? 0;
      if (c === 1) once++;
      else if (c === 0) never++;
      else twice++;
    }
    rows.push(
      atMost(
        "events missed (all watches)",
        missed,
        "events",
        0,
        `${endedEarly} ends delivered by a resync before their notification`,
      ),
      atMost("events duplicated", duplicated, "events", 0),
      atMost("events out of order", outOfOrder, "events", 0),
      exactly(
        "short leases with exactly one expired",
        once,
        "leases",
        shortLeases.size,
        `${never} with none, ${twice} with more; fleet-wide (every server)`,
      ),
      atMost(
        "resyncs per watch for gaps",
        reasons.gap / watches.length,
        "resyncs",
        5,
        "real gaps only (kills, restart, partition)",
      ),
      atMost("resyncs per watch for reconnects", reasons.reconnect / watches.length, "resyncs", 1),
      {
        metric: "resyncs per watch, safety interval",
        value: reasons.interval / watches.length,
        unit: "resyncs",
        note: "every 30 s",
      },
      {
        metric: "bytes per resync vs full snapshot",
        value: diffCount === 0 ? 0 : diffBytes / diffCount / (fullBytes / WATCHED.length),
        unit: "ratio",
        note: `${Math.round(diffCount === 0 ? 0 : diffBytes / diffCount)} B vs ${Math.round(fullBytes / WATCHED.length)} B full; all resyncs after the first`,
      },
      {
        metric: "bytes per resync vs full snapshot, steady service",
        value: steady.resyncs === 0 ? 0 : steady.bytes / steady.resyncs / steady.full,
        unit: "ratio",
        note: `${Math.round(steady.resyncs === 0 ? 0 : steady.bytes / steady.resyncs)} B vs ${steady.full} B full, ${steady.resyncs} resyncs`,
      },
      {
        metric: "bytes per gap resync vs full snapshot",
        value: gapCount === 0 ? 0 : gapBytes / gapCount / (fullBytes / WATCHED.length),
        unit: "ratio",
        note: `${Math.round(gapCount === 0 ? 0 : gapBytes / gapCount)} B per gap resync`,
      },
      atMost(
        "watch views differing from a node's lookup",
        mismatched,
        "views",
        0,
        `${watches.length} watches × ${live.length} nodes`,
      ),
      { metric: "writes acked", value: writes, unit: "writes", note: `${failed} failed (kills)` },
    );
    for (const { watch } of watches) watch.stop();
    await observer.close();
    await Promise.allSettled(expiryWatchers.map((nc) => nc.close()));
    await writerNc.close();
    await Promise.allSettled([...nodes.values()].map((n) => n.stop()));
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    return rows;
  },
};

function converged(nodes: readonly RegistryNode[]): boolean {
  const first = nodes[0]!.store.digest().digest;
  return nodes.every((n) => n.store.digest().digest === first);
}

function asInstance(entry: Entry): { id: string; lastHeartbeat: number } {
  return { id: entry.id, lastHeartbeat: lastHeartbeatOf(entry) };
}

/** Ids and the time of each instance's last write: two views with equal prints hold the same. */
function fingerprint(instances: readonly { id: string; lastHeartbeat: number }[]): string {
  return instances
    .map((i) => `${i.id}@${i.lastHeartbeat}`)
    .sort()
    .join(",");
}

export default scenario;
