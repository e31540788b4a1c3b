import { type EntryRecord, InstanceSchema, instanceBody, packHlc } from "../../src/core/mod.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { type EntryTuple, toTuple } from "../../src/sync/entry-codec.js";

/** A valid instance record as a peer sends it: written by `node` at `wall`, lease from then. */
export function instanceRecord(
  service: string,
  id: string,
  options: { node: string; host?: string; wall?: number },
): EntryRecord {
  const wall = options.wall ?? Date.now();
  const instance = InstanceSchema.parse({
    service,
    id,
    host: options.host ?? "10.0.0.9",
    port: 80,
  });
  return {
    service,
    id,
    hlc: packHlc(wall, 0),
    node: options.node,
    body: instanceBody(instance),
    status: instance.status,
    ver: "",
    ttlMs: instance.ttlMs,
    registeredAt: wall,
    lastHeartbeat: wall,
    expiresAt: wall + instance.ttlMs,
  };
}

/** The wire tuple of `instanceRecord`, with positions overridden (to make it invalid). */
export function instanceTuple(
  service: string,
  id: string,
  options: { node: string; host?: string; wall?: number },
  overrides: Partial<Record<number, unknown>> = {},
): EntryTuple {
  const tuple: unknown[] = toTuple(instanceRecord(service, id, options));
  for (const [i, v] of Object.entries(overrides)) tuple[Number(i)] = v;
  return tuple as EntryTuple;
}

/** Sync messages `node` rejected for `reason` so far. */
export async function rejectedCount(node: RegistryNode, reason: string): Promise<number> {
  const metric = await node.metrics.batchesRejected.get();
  return metric.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}
