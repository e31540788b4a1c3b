import { parseNodeConfig } from "../../src/config/load.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import type { InstanceInput } from "../../src/core/instance.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";

/** Settings that make a test fleet quick to notice changes and failures. */
export const FAST_SYNC: Partial<NodeConfigInput> = {
  memory: true,
  httpListen: "",
  logLevel: "silent",
  syncIntervalMs: 200,
  pullTimeoutMs: 300,
  retryBaseMs: 20,
  retryMaxMs: 200,
  suspectAfterFailures: 3,
  suspectProbeMs: 1_000,
  sweepIntervalMs: 50,
};

/** A test node, not started yet: for a test that listens to it from its first step. */
export function createNode(
  url: string,
  id: string,
  overrides: Partial<NodeConfigInput> = {},
  wallClock?: () => number,
): RegistryNode {
  const config = parseNodeConfig({ ...FAST_SYNC, nats: [url], id, ...overrides });
  return new RegistryNode({ config, codec: createSyncCodec(config), wallClock });
}

export async function startNode(
  url: string,
  id: string,
  overrides: Partial<NodeConfigInput> = {},
  wallClock?: () => number,
): Promise<RegistryNode> {
  const node = createNode(url, id, overrides, wallClock);
  await node.start();
  return node;
}

export async function startFleet(
  url: string,
  size: number,
  overrides: Partial<NodeConfigInput> = {},
): Promise<RegistryNode[]> {
  return Promise.all(
    Array.from({ length: size }, (_, i) => startNode(url, `n${i + 1}`, overrides)),
  );
}

export async function stopAll(nodes: readonly RegistryNode[]): Promise<void> {
  await Promise.allSettled(nodes.map((n) => n.stop()));
}

/** True when every node holds the same digest and entry count. */
export function converged(nodes: readonly RegistryNode[]): boolean {
  const first = nodes[0]!.store.digest();
  return nodes.every((n) => {
    const d = n.store.digest();
    return d.digest === first.digest && d.count === first.count;
  });
}

export function instance(
  service: string,
  id: string,
  extra: Partial<InstanceInput> = {},
): InstanceInput {
  return { service, id, host: "10.0.0.1", port: 8080, status: "running", ...extra };
}
