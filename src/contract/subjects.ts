/**
 * Every NATS subject regsync uses, derived from the configurable prefix (default `registry`).
 * The client subjects are a contract (DESIGN.md §2); the sync subjects are for nodes only.
 */
export const CLIENT_ENDPOINTS = [
  "register",
  "heartbeat",
  "deregister",
  "lookup",
  "services",
  "snapshot",
] as const;
export type ClientEndpoint = (typeof CLIENT_ENDPOINTS)[number];

/** Writes that also have a per-service subject, `<prefix>.<endpoint>.<service>`, so NATS
 * permissions can give each team write rights on its own services only. */
export const WRITE_ENDPOINTS = ["register", "heartbeat", "deregister"] as const;
export type WriteEndpoint = (typeof WRITE_ENDPOINTS)[number];

export function isWriteEndpoint(endpoint: ClientEndpoint): endpoint is WriteEndpoint {
  return (WRITE_ENDPOINTS as readonly string[]).includes(endpoint);
}

/** Queue group all nodes serve the client API in, so a request reaches exactly one node. */
export const CLIENT_QUEUE = "registry";
/** Name of the NATS micro service every node registers as. */
export const SERVICE_NAME = "registry";

export function clientSubject(prefix: string, endpoint: ClientEndpoint): string {
  return `${prefix}.${endpoint}`;
}

/** The per-service subject of a write: `registry.register.payments`. */
export function scopedSubject(prefix: string, endpoint: WriteEndpoint, service: string): string {
  return `${prefix}.${endpoint}.${service}`;
}

export function changesSubject(prefix: string, service: string): string {
  return `${prefix}.changes.${service}`;
}

export function allChangesSubject(prefix: string): string {
  return `${prefix}.changes.>`;
}

/** Every node answers (no queue group): `regsync status` gathers the whole fleet's view. */
export function statusSubject(prefix: string): string {
  return `${prefix}.status`;
}

export function syncSubjects(prefix: string) {
  return {
    announce: `${prefix}.sync.announce`,
    /** Every live node answers with its head (no queue group): a starting node's question. */
    heads: `${prefix}.sync.heads`,
    /** Every node answers which version of some keys it holds: a reporter of expiries asks. */
    versions: `${prefix}.sync.versions`,
    pull: (node: string) => `${prefix}.sync.${node}.pull`,
    reconcile: (node: string) => `${prefix}.sync.${node}.reconcile`,
    /** A client request a node behind the client's token hands to the node that took its write. */
    forward: (node: string) => `${prefix}.sync.${node}.forward`,
  };
}
