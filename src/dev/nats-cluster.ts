import { DEFAULT_CLUSTER_NAME } from "./nats-config.js";
import { type NatsServerHandle, type NatsServerOptions, startNatsServer } from "./nats-server.js";
import { freePort, LOOPBACK, withPortsRedrawnOnClash } from "./ports.js";

/** How long a new cluster may take until every server has a route to every other. */
export const DEFAULT_MESH_TIMEOUT_MS = 20_000;
/** Pause between two polls of the servers' `/routez`. */
const MESH_POLL_INTERVAL_MS = 50;
/** How long one monitoring request may take. */
const MONITOR_REQUEST_TIMEOUT_MS = 2_000;
/**
 * What servers advertise when their routes go through proxies: an address that refuses
 * connections (nothing listens on port 1). NATS servers tell their peers about newly joined
 * servers, and a peer that has no route configured to the advertised address dials it
 * directly, once. Pointing that at a closed port keeps every route inside the proxies, so a
 * cut proxy stays cut.
 */
export const UNREACHABLE_ROUTE_ADDRESS = `${LOOPBACK}:1`;

export interface NatsClusterOptions
  extends Omit<NatsServerOptions, "cluster" | "port" | "monitor" | "monitorPort" | "serverName"> {
  /** Number of servers. @default 3 */
  size?: number;
  /** Cluster name. @default "regsync-dev" */
  name?: string;
  /** Per-server configuration text, instead of the same `config` for all. */
  configFor?: (index: number) => string | undefined;
  /**
   * Where server `from` dials server `to`'s route listener (`port`): return another port (a
   * proxy the caller controls) to put something between them. Called once per ordered pair
   * before any server starts. Between two servers NATS keeps one route, dialled by either
   * side, so a partition must cut both directions. @default the route listener itself
   */
  routeVia?: (from: number, to: number, port: number) => number | Promise<number>;
  /** @default DEFAULT_MESH_TIMEOUT_MS */
  meshTimeoutMs?: number;
}

export interface NatsClusterHandle {
  /** The servers, in index order; each can be killed and restarted on the same ports. */
  readonly servers: readonly NatsServerHandle[];
  /** Client URLs in index order. */
  readonly urls: readonly string[];
  /** Client URLs joined by commas (for a CLI flag or an environment variable). */
  readonly url: string;
  /** The route listener port of each server. */
  readonly routePorts: readonly number[];
  /** Whether server `i` has a route to server `j` now (false when either is down). */
  connected(i: number, j: number): Promise<boolean>;
  /** Waits until every running server (or those in `among`) has a route to every other. */
  waitForMesh(options?: { among?: readonly number[]; timeoutMs?: number }): Promise<void>;
  /** Stops every server. */
  stop(): Promise<void>;
}

/**
 * Starts `size` nats-servers on loopback, each with an explicit route to every other (a full
 * mesh, as NATS expects), and waits until all routes are up. Route listener ports are chosen
 * before the servers start, since every server must know the others' (a route port taken before
 * its server bound it is drawn again, and the cluster started over); client and monitoring ports
 * are chosen by the servers.
 */
export function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  return withPortsRedrawnOnClash(() => startClusterOnce(options));
}

async function startClusterOnce(options: NatsClusterOptions): Promise<NatsClusterHandle> {
  const { size = 3, name = DEFAULT_CLUSTER_NAME, configFor, routeVia, meshTimeoutMs } = options;
  if (!Number.isInteger(size) || size < 1) throw new Error(`cluster size ${size} is not >= 1`);
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const routesOf: string[][] = [];
  for (let from = 0; from < size; from++) {
    const routes: string[] = [];
    for (let to = 0; to < size; to++) {
      if (to === from) continue;
      const port = routeVia ? await routeVia(from, to, routePorts[to]!) : routePorts[to]!;
      routes.push(`nats-route://${LOOPBACK}:${port}`);
    }
    routesOf.push(routes);
  }
  const started = await Promise.allSettled(
    routePorts.map((port, i) =>
      startNatsServer({
        ...options,
        config: configFor?.(i) ?? options.config,
        monitor: true,
        serverName: `${name}-${i + 1}`,
        cluster: {
          name,
          port,
          routes: routesOf[i],
          advertise: routeVia ? UNREACHABLE_ROUTE_ADDRESS : undefined,
        },
      }),
    ),
  );
  const servers = started.flatMap((result) =>
    result.status === "fulfilled" ? [result.value] : [],
  );
  const failed = started.find((result) => result.status === "rejected");
  if (failed !== undefined) {
    await Promise.allSettled(servers.map((server) => server.stop()));
    throw (failed as PromiseRejectedResult).reason;
  }
  const cluster: NatsClusterHandle = {
    servers,
    urls: servers.map((server) => server.url),
    url: servers.map((server) => server.url).join(","),
    routePorts,
    connected: async (i, j) => {
      const [from, to] = await Promise.all([routez(servers[i]!), routez(servers[j]!)]);
      return from !== undefined && to !== undefined && from.remoteIds.has(to.serverId);
    },
    waitForMesh: (wait = {}) =>
      waitForMesh(servers, wait.among, wait.timeoutMs ?? meshTimeoutMs ?? DEFAULT_MESH_TIMEOUT_MS),
    stop: async () => {
      await Promise.allSettled(servers.map((server) => server.stop()));
    },
  };
  try {
    await cluster.waitForMesh();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

interface RouteView {
  serverId: string;
  /** Ids of the servers this one has a route to. */
  remoteIds: Set<string>;
}

/** A server's own id and its routes' remote ids from `/routez`; undefined when it is down. */
async function routez(server: NatsServerHandle): Promise<RouteView | undefined> {
  if (!server.running || server.monitorUrl === undefined) return undefined;
  try {
    const response = await fetch(`${server.monitorUrl}/routez`, {
      signal: AbortSignal.timeout(MONITOR_REQUEST_TIMEOUT_MS),
    });
    const body = (await response.json()) as {
      server_id: string;
      routes?: { remote_id: string }[] | null;
    };
    return {
      serverId: body.server_id,
      remoteIds: new Set((body.routes ?? []).map((route) => route.remote_id)),
    };
  } catch {
    return undefined;
  }
}

async function waitForMesh(
  servers: readonly NatsServerHandle[],
  among: readonly number[] | undefined,
  timeoutMs: number,
): Promise<void> {
  const members = among ?? servers.flatMap((server, i) => (server.running ? [i] : []));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const views = await Promise.all(members.map((i) => routez(servers[i]!)));
    const missing: string[] = [];
    members.forEach((i, a) => {
      members.forEach((j, b) => {
        if (i === j) return;
        const from = views[a];
        const to = views[b];
        if (from === undefined || to === undefined || !from.remoteIds.has(to.serverId))
          missing.push(`${i}->${j}`);
      });
    });
    if (missing.length === 0) return;
    if (Date.now() > deadline) {
      const logs = members
        .map(
          (i) =>
            `--- server ${i} ---\n${servers[i]!.logs().trimEnd().split("\n").slice(-8).join("\n")}`,
        )
        .join("\n");
      throw new Error(
        `NATS routes did not form within ${timeoutMs} ms; missing ${missing.join(", ")}\n${logs}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, MESH_POLL_INTERVAL_MS));
  }
}
