import { RegistryClient } from "../../src/client/mod.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { startNode, stopAll } from "../node/fleet.js";
import { withServerConnection } from "./nats.js";
import type { CleanupScope } from "./teardown.js";

/**
 * Helpers for registry nodes spread over regions (a supercluster's clusters, a hub and its leaf
 * server). Every node and client here talks to the servers of its own region only.
 */

/** A registry node on `servers` (one region's client URLs), stopped after the test. */
export async function withRegionNodes(
  t: CleanupScope,
  nodes: readonly { id: string; servers: readonly string[] }[],
  overrides: Partial<NodeConfigInput> = {},
): Promise<RegistryNode[]> {
  const started = await Promise.allSettled(
    nodes.map(({ id, servers }) =>
      startNode(servers[0]!, id, { ...overrides, nats: [...servers] }),
    ),
  );
  const ok = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  t.after(() => stopAll(ok));
  const failed = started.find((result) => result.status === "rejected");
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  return ok;
}

/** A NATS connection to one server of a region, for a client of that region. */
export const withRegionConnection = withServerConnection;

export async function withRegionClient(t: CleanupScope, url: string): Promise<RegistryClient> {
  return new RegistryClient(await withRegionConnection(t, url), { timeoutMs: 5_000 });
}

/** Everything `node` holds for `service` (live instances), by id, sorted. */
export function idsOn(node: RegistryNode, service: string): string[] {
  return node.store
    .lookup({ service }, Date.now())
    .map((entry) => entry.id)
    .sort();
}

/** The rendered size of every entry a node holds: what a full transfer would at least move. */
export function stateBytes(node: RegistryNode): number {
  let bytes = 0;
  for (const entry of node.store.entries())
    bytes += entry.service.length + entry.id.length + (entry.body?.length ?? 0) + 32;
  return bytes;
}

/** Registers `count` instances through `client`, a few requests in flight at a time. */
export async function registerMany(
  client: RegistryClient,
  service: string,
  prefix: string,
  count: number,
  ttlMs?: number,
  inFlight = 32,
): Promise<void> {
  for (let start = 0; start < count; start += inFlight) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(count, start + inFlight); i++) {
      batch.push(
        client.call("register", {
          service,
          id: `${prefix}-${i}`,
          host: "10.0.0.1",
          port: 8080,
          status: "running",
          tags: { padding: "x".repeat(100) },
          ttlMs,
        }),
      );
    }
    await Promise.all(batch);
  }
}
