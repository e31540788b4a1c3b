/**
 * Regions: a NATS supercluster of two 2-server clusters (eu, us) joined by gateways, two
 * registry nodes per region, each in its own worker thread. What crosses the gateway per
 * change and when idle (from the servers' /gatewayz counters), and how much later a change
 * reaches the other region than the other node of its own (loopback: read it as relative).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "nats";
import {
  gatewayz,
  type LinkTraffic,
  sumTraffic,
  trafficSince,
} from "../../src/dev/nats-monitor.js";
import {
  type NatsSuperclusterHandle,
  startNatsSupercluster,
} from "../../src/dev/nats-supercluster.js";
import { WorkerFleet } from "../fleet/fleet.js";
import { recordReplications } from "../fleet/replications.js";
import { type BenchContext, type BenchRow, percentile, type Scenario } from "../scenario.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** The production default: idle traffic is one periodic announcement per node per interval. */
const SYNC_INTERVAL_MS = 5_000;
const WRITE_RATE_PER_S = 100;

function instanceJson(id: string): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      service: "prop",
      id,
      host: "10.1.2.3",
      port: 8443,
      status: "running",
      version: "2.14.1",
      environment: "production",
      tags: { zone: "eu-west-1a", team: "payments" },
      ttlMs: 30_000,
    }),
  );
}

/** What every server of the supercluster sent over its gateways: each crossing counted once. */
async function gatewayOut(sc: NatsSuperclusterHandle): Promise<LinkTraffic> {
  const views = await Promise.all(sc.servers.map((server) => gatewayz(server)));
  const sent = views.flatMap((view) =>
    view === undefined ? [] : [{ ...view.traffic, inMsgs: 0, inBytes: 0 }],
  );
  return sumTraffic(sent);
}

async function run(context: BenchContext): Promise<BenchRow[]> {
  const idleSeconds = context.quick ? 15 : 60;
  const writes = context.quick ? 300 : 1_500;
  const sc = await startNatsSupercluster({ clusters: [{ name: "eu" }, { name: "us" }] });
  const eu = sc.cluster("eu");
  const us = sc.cluster("us");
  const placement = [
    { id: "eu1", url: eu.urls[0]!, region: "eu" },
    { id: "eu2", url: eu.urls[1]!, region: "eu" },
    { id: "us1", url: us.urls[0]!, region: "us" },
    { id: "us2", url: us.urls[1]!, region: "us" },
  ];
  const regionOf = new Map(placement.map((p) => [p.id, p.region]));
  let fleet: WorkerFleet | undefined;
  let nc: NatsConnection | undefined;
  try {
    fleet = await WorkerFleet.start(
      placement.map(({ id, url }) => ({
        config: {
          nats: [url],
          id,
          memory: true,
          httpListen: "",
          logLevel: "warn",
          syncIntervalMs: SYNC_INTERVAL_MS,
        },
        watchService: "prop",
      })),
    );
    nc = await connect({ servers: eu.urls[0]!, noRandomize: true, ignoreClusterUpdates: true });
    const seen = recordReplications(fleet);
    await sleep(2 * SYNC_INTERVAL_MS); // past discovery and the first periodic rounds

    context.log(`idle: ${idleSeconds} s of periodic announcements only`);
    const idleBefore = await gatewayOut(sc);
    const idleStarted = performance.now();
    await sleep(idleSeconds * 1_000);
    const idle = trafficSince(idleBefore, await gatewayOut(sc));
    const idleMinutes = (performance.now() - idleStarted) / 60_000;

    context.log(`changes: ${writes} registrations at ${WRITE_RATE_PER_S}/s through an eu client`);
    const acked = new Map<string, { at: number; node: string }>();
    const before = await gatewayOut(sc);
    const started = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < writes; i++) {
      const wait = started + (i * 1_000) / WRITE_RATE_PER_S - performance.now();
      if (wait > 1) await sleep(wait);
      const id = `r${i}`;
      pending.push(
        nc.request("registry.register", instanceJson(id), { timeout: 5_000 }).then((reply) => {
          const at = performance.timeOrigin + performance.now();
          acked.set(id, {
            at,
            node: (JSON.parse(decoder.decode(reply.data)) as { node: string }).node,
          });
        }),
      );
    }
    await Promise.all(pending);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && [...acked.keys()].some((id) => (seen.get(id)?.size ?? 0) < 3))
      await sleep(20);
    const elapsedMinutes = (performance.now() - started) / 60_000;
    const during = trafficSince(before, await gatewayOut(sc));
    // The idle announcements of the same span are not the changes' cost.
    const changeMsgs = during.outMsgs - (idle.outMsgs / idleMinutes) * elapsedMinutes;
    const changeBytes = during.outBytes - (idle.outBytes / idleMinutes) * elapsedMinutes;

    const within: number[] = [];
    const across: number[] = [];
    let missing = 0;
    let answeredElsewhere = 0;
    for (const [id, ack] of acked) {
      if (regionOf.get(ack.node) !== "eu") answeredElsewhere++;
      const byNode = seen.get(id);
      if (byNode === undefined || byNode.size < 3) {
        missing++;
        continue;
      }
      for (const [node, at] of byNode) {
        if (node === ack.node) continue;
        (regionOf.get(node) === regionOf.get(ack.node) ? within : across).push(
          Math.max(0, at - ack.at),
        );
      }
    }
    const note = `${writes} writes at ${WRITE_RATE_PER_S}/s; ${missing} not seen everywhere; ${answeredElsewhere} answered outside eu`;
    const p50Within = percentile(within, 50);
    const p50Across = percentile(across, 50);
    const p99Within = percentile(within, 99);
    const p99Across = percentile(across, 99);
    return [
      { metric: "gateway messages per change", value: changeMsgs / writes, unit: "msgs", note },
      { metric: "gateway bytes per change", value: changeBytes / writes, unit: "B" },
      {
        metric: "idle gateway messages per minute",
        value: idle.outMsgs / idleMinutes,
        unit: "msgs/min",
        note: `4 nodes, syncIntervalMs ${SYNC_INTERVAL_MS}, ${idleSeconds} s measured`,
      },
      {
        metric: "idle gateway bytes per minute",
        value: idle.outBytes / idleMinutes,
        unit: "B/min",
      },
      {
        metric: "propagation p50 within the region",
        value: p50Within,
        unit: "ms",
        note: "loopback",
      },
      { metric: "propagation p50 across regions", value: p50Across, unit: "ms", note: "loopback" },
      { metric: "propagation p99 within the region", value: p99Within, unit: "ms" },
      { metric: "propagation p99 across regions", value: p99Across, unit: "ms" },
      {
        metric: "across / within, p50",
        value: p50Across / p50Within,
        unit: "x",
        note: "relative: loopback has no WAN latency",
      },
      { metric: "across / within, p99", value: p99Across / p99Within, unit: "x" },
    ];
  } finally {
    await nc?.close();
    await fleet?.stop();
    await sc.stop();
  }
}

const scenario: Scenario = {
  name: "regions",
  description:
    "supercluster of 2 × 2 nats-servers, 2 nodes per region: gateway traffic per change and idle, propagation across vs within a region",
  run,
};
export default scenario;
