import {
  type NatsClusterHandle,
  type NatsClusterOptions,
  startNatsCluster,
} from "../../src/dev/nats-cluster.js";
import { TcpProxy } from "./tcp-proxy.js";

/** How a partition breaks the links that cross it (see `TcpProxy`). */
export const PARTITION_MODES = ["cut", "blackhole"] as const;
export type PartitionMode = (typeof PARTITION_MODES)[number];

export interface TestCluster extends NatsClusterHandle {
  /** The proxy server `from` dials server `to` through, by `"from>to"` (with `proxiedRoutes`). */
  readonly proxies: ReadonlyMap<string, TcpProxy>;
  /** Breaks every route between `side` and the other servers (needs `proxiedRoutes`). */
  partition(side: readonly number[], mode?: PartitionMode): void;
  /** Breaks the route between servers `i` and `j` only, in both directions. */
  cutLink(i: number, j: number, mode?: PartitionMode): void;
  /** Restores every link. */
  heal(): void;
  /** Stops the servers and the proxies. */
  stop(): Promise<void>;
}

/**
 * A cluster of nats-servers on loopback (`startNatsCluster`). With `proxiedRoutes`, the route
 * server i dials to server j goes through a proxy of its own, one per ordered pair.
 *
 * How to partition a full mesh. NATS routes form a full mesh: every pair of servers keeps one
 * direct route, dialled by either side, and a message crosses exactly one route (a server never
 * forwards what it received from a route to another route). So:
 * - to separate servers i and j, cut both proxies of the pair (i>j and j>i); cutting only one
 *   lets the other side's dialler reconnect;
 * - to split the cluster into `side` and the rest, cut the pairs that cross; routes inside
 *   each side stay up;
 * - cutting a single pair already stops messages between those two servers even when both
 *   still reach a third: there is no relaying. Clients of i and j then see different
 *   clusters (a non-transitive partition).
 * Servers advertise an unreachable route address when proxied, so gossip about a restarted
 * server can never open a direct route around a cut proxy.
 */
export async function startCluster(
  size: number,
  options: { proxiedRoutes?: boolean } & Omit<NatsClusterOptions, "size" | "routeVia"> = {},
): Promise<TestCluster> {
  const { proxiedRoutes, ...clusterOptions } = options;
  const proxies = new Map<string, TcpProxy>();
  let cluster: NatsClusterHandle;
  try {
    cluster = await startNatsCluster({
      ...clusterOptions,
      size,
      routeVia: proxiedRoutes
        ? async (from, to, port) => {
            const proxy = await TcpProxy.start(port);
            proxies.set(`${from}>${to}`, proxy);
            return proxy.port;
          }
        : undefined,
    });
  } catch (error) {
    await Promise.allSettled([...proxies.values()].map((proxy) => proxy.close()));
    throw error;
  }
  const breakProxy = (key: string, mode: PartitionMode) => {
    const proxy = proxies.get(key);
    if (proxy === undefined) throw new Error("partitions need startCluster(n, { proxiedRoutes })");
    if (mode === "cut") proxy.cut();
    else proxy.blackhole();
  };
  return {
    ...cluster,
    proxies,
    partition(side, mode = "cut") {
      for (let i = 0; i < size; i++)
        for (let j = 0; j < size; j++)
          if (i !== j && side.includes(i) !== side.includes(j)) breakProxy(`${i}>${j}`, mode);
    },
    cutLink(i, j, mode = "cut") {
      breakProxy(`${i}>${j}`, mode);
      breakProxy(`${j}>${i}`, mode);
    },
    heal() {
      for (const proxy of proxies.values()) proxy.heal();
    },
    async stop() {
      await cluster.stop();
      await Promise.allSettled([...proxies.values()].map((proxy) => proxy.close()));
    },
  };
}
