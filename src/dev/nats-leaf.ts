import {
  type NatsClusterHandle,
  type NatsClusterOptions,
  startNatsCluster,
} from "./nats-cluster.js";
import { type LinkTraffic, leafz, NO_TRAFFIC } from "./nats-monitor.js";
import { type NatsServerHandle, startNatsServer } from "./nats-server.js";
import { joinConfig, renderLeafListen, renderLeafRemote } from "./nats-topology-config.js";
import { freePort, LOOPBACK } from "./ports.js";

/** How long a new leaf server may take to connect to its hub. */
export const DEFAULT_LEAF_TIMEOUT_MS = 30_000;
const LEAF_POLL_INTERVAL_MS = 50;
/** Seconds between a leaf server's reconnect attempts: quick on loopback, NATS's own default. */
const LEAF_RECONNECT_SECONDS = 1;

export interface NatsLeafTopologyOptions
  extends Omit<NatsClusterOptions, "size" | "name" | "configFor" | "routeVia"> {
  /** Hub cluster name (a region's name in regsync). @default "hub" */
  hubName?: string;
  /** Servers in the hub cluster. @default 2 */
  hubSize?: number;
  /**
   * The leaf server's cluster name. A lone server has none, and a registry node takes its
   * region from it, so the leaf server gets a cluster block of its own, without routes.
   * @default "leaf"
   */
  leafName?: string;
  /**
   * Where the leaf server dials hub server `index`'s leaf listener (`port`): return another
   * port (a proxy the caller controls) to put something in the leaf link; the hub advertises
   * it too. @default the leaf listener itself
   */
  leafVia?: (index: number, port: number) => number | Promise<number>;
  /** @default DEFAULT_LEAF_TIMEOUT_MS */
  leafTimeoutMs?: number;
}

export interface NatsLeafTopologyHandle {
  readonly hub: NatsClusterHandle;
  readonly leaf: NatsServerHandle;
  readonly hubName: string;
  readonly leafName: string;
  /** Leaf listener port of each hub server. */
  readonly leafPorts: readonly number[];
  /** Waits until the leaf server has a leaf connection to the hub. */
  waitForLeaf(options?: { timeoutMs?: number }): Promise<void>;
  /** Whether the leaf server has a leaf connection now. */
  linked(): Promise<boolean>;
  /**
   * Traffic on the leaf server's connections to the hub (`/leafz`): what crossed the link.
   * Counters live with a connection, so a link that reconnects starts again from zero.
   */
  leafTraffic(): Promise<LinkTraffic>;
  stop(): Promise<void>;
}

/**
 * Starts a hub cluster (`startNatsCluster`) whose servers accept leaf nodes, and one leaf
 * server that dials them, all on loopback with monitoring on; waits until the leaf is linked.
 */
export async function startNatsLeafTopology(
  options: NatsLeafTopologyOptions = {},
): Promise<NatsLeafTopologyHandle> {
  const {
    hubName = "hub",
    hubSize = 2,
    leafName = "leaf",
    leafVia,
    leafTimeoutMs = DEFAULT_LEAF_TIMEOUT_MS,
    ...common
  } = options;
  if (hubName === leafName) throw new Error("the hub and the leaf need different cluster names");
  const leafPorts: number[] = [];
  const dialPorts: number[] = [];
  for (let i = 0; i < hubSize; i++) {
    const port = await freePort();
    leafPorts.push(port);
    dialPorts.push(leafVia === undefined ? port : await leafVia(i, port));
  }
  const hub = await startNatsCluster({
    ...common,
    name: hubName,
    size: hubSize,
    configFor: (i) =>
      joinConfig(
        common.config,
        renderLeafListen({
          port: leafPorts[i]!,
          advertise: leafVia === undefined ? undefined : `${LOOPBACK}:${dialPorts[i]}`,
        }),
      ),
  });
  let leaf: NatsServerHandle;
  try {
    leaf = await startNatsServer({
      ...common,
      monitor: true,
      serverName: `${leafName}-1`,
      cluster: { name: leafName },
      config: joinConfig(
        common.config,
        renderLeafRemote({
          urls: dialPorts.map((port) => `nats-leaf://${LOOPBACK}:${port}`),
          reconnectSeconds: LEAF_RECONNECT_SECONDS,
        }),
      ),
    });
  } catch (error) {
    await hub.stop();
    throw error;
  }
  const linked = async () => ((await leafz(leaf))?.links ?? 0) > 0;
  const handle: NatsLeafTopologyHandle = {
    hub,
    leaf,
    hubName,
    leafName,
    leafPorts,
    linked,
    waitForLeaf: async (wait = {}) => {
      const timeoutMs = wait.timeoutMs ?? leafTimeoutMs;
      const deadline = Date.now() + timeoutMs;
      while (!(await linked())) {
        if (Date.now() > deadline)
          throw new Error(
            `the leaf server did not connect to the hub within ${timeoutMs} ms\n${leaf.logs().trimEnd().split("\n").slice(-8).join("\n")}`,
          );
        await new Promise((resolve) => setTimeout(resolve, LEAF_POLL_INTERVAL_MS));
      }
    },
    leafTraffic: async () => (await leafz(leaf))?.traffic ?? NO_TRAFFIC,
    stop: async () => {
      await Promise.allSettled([leaf.stop(), hub.stop()]);
    },
  };
  try {
    await handle.waitForLeaf();
  } catch (error) {
    await handle.stop();
    throw error;
  }
  return handle;
}
