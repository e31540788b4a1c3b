import { type NatsLeafTopologyHandle, startNatsLeafTopology } from "../../src/dev/nats-leaf.js";
import {
  type NatsSuperclusterHandle,
  startNatsSupercluster,
} from "../../src/dev/nats-supercluster.js";
import { TcpProxy } from "./tcp-proxy.js";
import type { CleanupScope } from "./teardown.js";

/** A supercluster whose gateway links each run through a proxy, so a test can cut them. */
export interface TestSupercluster extends NatsSuperclusterHandle {
  /** The proxy in front of each server's gateway listener, by `"<cluster>-<index>"`. */
  readonly proxies: ReadonlyMap<string, TcpProxy>;
  /** Resets every gateway connection and refuses new ones until `healGateways()`. */
  cutGateways(): void;
  healGateways(): void;
}

/**
 * Two clusters of two servers (`eu` and `us` unless named), joined by gateways through
 * proxies; stopped with the proxies after the test.
 *
 * How the cut works: every server dials each other cluster through that cluster's proxies and
 * advertises its own proxy, so every gateway connection crosses a proxy of the cluster it
 * enters. Each cluster sends over its own outbound gateways only, so cutting one cluster's
 * proxies silences one direction; `cutGateways()` cuts all of them, both directions, while
 * the routes inside each cluster stay up.
 */
export async function withSupercluster(
  t: CleanupScope,
  names: readonly [string, string] = ["eu", "us"],
): Promise<TestSupercluster> {
  const proxies = new Map<string, TcpProxy>();
  const closeProxies = () => Promise.allSettled([...proxies.values()].map((p) => p.close()));
  let supercluster: NatsSuperclusterHandle;
  try {
    supercluster = await startNatsSupercluster({
      clusters: names.map((name) => ({ name, size: 2 })),
      gatewayVia: async (cluster, index, port) => {
        const proxy = await TcpProxy.start(port);
        proxies.set(`${cluster}-${index}`, proxy);
        return proxy.port;
      },
    });
  } catch (error) {
    await closeProxies();
    throw error;
  }
  t.after(async () => {
    await supercluster.stop();
    await closeProxies();
  });
  return {
    ...supercluster,
    proxies,
    cutGateways() {
      for (const proxy of proxies.values()) proxy.cut();
    },
    healGateways() {
      for (const proxy of proxies.values()) proxy.heal();
    },
  };
}

/** A hub cluster and a leaf server whose link runs through proxies, so a test can cut it. */
export interface TestLeafTopology extends NatsLeafTopologyHandle {
  readonly proxies: readonly TcpProxy[];
  cutLeaf(): void;
  healLeaf(): void;
}

export async function withLeafTopology(
  t: CleanupScope,
  names: { hub: string; leaf: string } = { hub: "hub", leaf: "edge" },
): Promise<TestLeafTopology> {
  const proxies: TcpProxy[] = [];
  const closeProxies = () => Promise.allSettled(proxies.map((p) => p.close()));
  let topology: NatsLeafTopologyHandle;
  try {
    topology = await startNatsLeafTopology({
      hubName: names.hub,
      leafName: names.leaf,
      hubSize: 2,
      leafVia: async (_index, port) => {
        const proxy = await TcpProxy.start(port);
        proxies.push(proxy);
        return proxy.port;
      },
    });
  } catch (error) {
    await closeProxies();
    throw error;
  }
  t.after(async () => {
    await topology.stop();
    await closeProxies();
  });
  return {
    ...topology,
    proxies,
    cutLeaf() {
      for (const proxy of proxies) proxy.cut();
    },
    healLeaf() {
      for (const proxy of proxies) proxy.heal();
    },
  };
}
