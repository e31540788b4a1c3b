import { type Entry, heldLeaseEnd, lastHeartbeatOf } from "./entry.js";

/**
 * The JSON text of an instance as the client API returns it: the key, then the stored body
 * with status, lease timestamps and the accepting node spliced in, so a lookup of thousands of instances
 * costs string concatenation, not object building and re-serialising.
 */
export function renderInstance(entry: Entry): string {
  const body = entry.body;
  if (body === null) return "null";
  return `{"service":${JSON.stringify(entry.service)},"id":${JSON.stringify(entry.id)},${body.slice(1, -1)},"status":"${entry.status}","registeredAt":${entry.registeredAt},"lastHeartbeat":${lastHeartbeatOf(entry)},"expiresAt":${heldLeaseEnd(entry)},"node":${JSON.stringify(entry.node)}}`;
}

/** A JSON array of rendered instances. */
export function renderInstances(entries: readonly Entry[]): string {
  let out = "[";
  for (let i = 0; i < entries.length; i++) {
    if (i > 0) out += ",";
    out += renderInstance(entries[i]!);
  }
  return `${out}]`;
}
