import {
  type NatsClusterHandle,
  type NatsClusterOptions,
  startNatsCluster,
} from "./nats-cluster.js";
import { gatewayz, type LinkTraffic, sumTraffic } from "./nats-monitor.js";
import type { NatsServerHandle } from "./nats-server.js";
import { type GatewayRemote, joinConfig, renderGateway } from "./nats-topology-config.js";
import { freePort, LOOPBACK, withPortsRedrawnOnClash } from "./ports.js";

/** How long new gateways may take until every server has one to every other cluster. */
export const DEFAULT_GATEWAY_TIMEOUT_MS = 30_000;
const GATEWAY_POLL_INTERVAL_MS = 50;

export interface SuperclusterMember {
  /** Cluster and gateway name (NATS requires them equal); a region's name in regsync. */
  name: string;
  /** Servers in this cluster. @default 2 */
  size?: number;
}

export interface NatsSuperclusterOptions
  extends Omit<NatsClusterOptions, "size" | "name" | "configFor" | "routeVia"> {
  /** The clusters, each joined to every other by gateways. At least two. */
  clusters: readonly SuperclusterMember[];
  /** Per-server configuration text (accounts, limits); the gateway block is added to it. */
  configFor?: (cluster: string, index: number) => string | undefined;
  /**
   * Where other clusters dial server `index` of `cluster`'s gateway listener (`port`): return
   * another port (a proxy the caller controls) to put something in the gateway link. The server
   * then advertises that port too, so no gateway ever bypasses it. Called once per server
   * before any starts. @default the gateway listener itself
   */
  gatewayVia?: (cluster: string, index: number, port: number) => number | Promise<number>;
  /** @default DEFAULT_GATEWAY_TIMEOUT_MS */
  gatewayTimeoutMs?: number;
}

export interface NatsSuperclusterHandle {
  /** The clusters, in the order given. */
  readonly clusters: readonly NatsClusterHandle[];
  readonly names: readonly string[];
  /** The cluster named `name`; throws for an unknown name. */
  cluster(name: string): NatsClusterHandle;
  /** Every server, cluster by cluster. */
  readonly servers: readonly NatsServerHandle[];
  /** Gateway listener ports, by cluster then server index. */
  readonly gatewayPorts: ReadonlyMap<string, readonly number[]>;
  /** Waits until every running server has an outbound gateway to every other cluster. */
  waitForGateways(options?: { timeoutMs?: number }): Promise<void>;
  /**
   * Gateway traffic of `cluster`'s running servers, summed over their connections (outbound and
   * inbound) from `/gatewayz`: what crossed between this cluster and the others. Counters live
   * with a connection, so a link that reconnects starts again from zero.
   */
  gatewayTraffic(cluster: string): Promise<LinkTraffic>;
  stop(): Promise<void>;
}

/**
 * Starts a NATS supercluster on loopback: one cluster per member (`startNatsCluster`), each
 * server with a gateway to every other cluster, monitoring on, and waits until every gateway is
 * up. Gateway ports are chosen before start, as every cluster must know the others' (one taken
 * before its server bound it is drawn again, and the supercluster started over).
 */
export function startNatsSupercluster(
  options: NatsSuperclusterOptions,
): Promise<NatsSuperclusterHandle> {
  return withPortsRedrawnOnClash(() => startSuperclusterOnce(options));
}

async function startSuperclusterOnce(
  options: NatsSuperclusterOptions,
): Promise<NatsSuperclusterHandle> {
  const { clusters: members, configFor, gatewayVia, gatewayTimeoutMs, ...common } = options;
  if (members.length < 2) throw new Error("a supercluster needs at least two clusters");
  const names = members.map((member) => member.name);
  if (new Set(names).size !== names.length) throw new Error("cluster names must be distinct");
  const listenPorts = new Map<string, number[]>();
  const dialPorts = new Map<string, number[]>();
  for (const { name, size = 2 } of members) {
    const listen: number[] = [];
    const dial: number[] = [];
    for (let i = 0; i < size; i++) {
      const port = await freePort();
      listen.push(port);
      dial.push(gatewayVia === undefined ? port : await gatewayVia(name, i, port));
    }
    listenPorts.set(name, listen);
    dialPorts.set(name, dial);
  }
  const remotesOf = (name: string): GatewayRemote[] =>
    names
      .filter((other) => other !== name)
      .map((other) => ({
        name: other,
        urls: dialPorts.get(other)!.map((port) => `nats://${LOOPBACK}:${port}`),
      }));
  const started = await Promise.allSettled(
    members.map(({ name, size = 2 }) =>
      startNatsCluster({
        ...common,
        name,
        size,
        configFor: (i) =>
          joinConfig(
            configFor?.(name, i) ?? common.config,
            renderGateway({
              name,
              port: listenPorts.get(name)![i]!,
              advertise:
                gatewayVia === undefined ? undefined : `${LOOPBACK}:${dialPorts.get(name)![i]}`,
              remotes: remotesOf(name),
            }),
          ),
      }),
    ),
  );
  const clusters = started.flatMap((result) =>
    result.status === "fulfilled" ? [result.value] : [],
  );
  const failed = started.find((result) => result.status === "rejected");
  const stop = async () => {
    await Promise.allSettled(clusters.map((cluster) => cluster.stop()));
  };
  if (failed !== undefined) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const byName = new Map(names.map((name, i) => [name, clusters[i]!]));
  const clusterNamed = (name: string) => {
    const cluster = byName.get(name);
    if (cluster === undefined) throw new Error(`no cluster named ${name}`);
    return cluster;
  };
  const handle: NatsSuperclusterHandle = {
    clusters,
    names,
    cluster: clusterNamed,
    servers: clusters.flatMap((cluster) => cluster.servers),
    gatewayPorts: listenPorts,
    waitForGateways: (wait = {}) =>
      waitForGateways(byName, wait.timeoutMs ?? gatewayTimeoutMs ?? DEFAULT_GATEWAY_TIMEOUT_MS),
    gatewayTraffic: async (name) => {
      const views = await Promise.all(clusterNamed(name).servers.map((server) => gatewayz(server)));
      return sumTraffic(views.flatMap((view) => (view === undefined ? [] : [view.traffic])));
    },
    stop,
  };
  try {
    await handle.waitForGateways();
  } catch (error) {
    await stop();
    throw error;
  }
  return handle;
}

async function waitForGateways(
  clusters: ReadonlyMap<string, NatsClusterHandle>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing: string[] = [];
    for (const [name, cluster] of clusters) {
      const views = await Promise.all(
        cluster.servers.map((server) => (server.running ? gatewayz(server) : undefined)),
      );
      cluster.servers.forEach((server, i) => {
        if (!server.running) return;
        for (const other of clusters.keys()) {
          if (other !== name && !views[i]?.outbound.has(other))
            missing.push(`${name}-${i + 1}->${other}`);
        }
      });
    }
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `NATS gateways did not form within ${timeoutMs} ms; missing ${missing.join(", ")}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, GATEWAY_POLL_INTERVAL_MS));
  }
}
