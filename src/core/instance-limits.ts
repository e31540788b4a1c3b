import { isIP } from "node:net";

/** Instance lifecycle states, in the order DESIGN.md §2 lists them. Only append. */
export const STATUSES = [
  "starting",
  "running",
  "stopping",
  "stopped",
  "unhealthy",
  "unknown",
] as const;
export type Status = (typeof STATUSES)[number];
export const DEFAULT_STATUS: Status = "starting";

/** A service name is one NATS subject token, so `registry.changes.<service>` is always valid. */
export const SERVICE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const INSTANCE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Fields the registry sets itself; a client may echo them back (re-registering a reply) and
 * they are ignored rather than rejected. */
export const SERVER_FIELDS = ["registeredAt", "lastHeartbeat", "expiresAt", "node"] as const;

/** Lease bounds: a lease shorter than a second cannot be renewed in time over a WAN; one longer
 * than a day outlives any sane tombstone grace period and could be resurrected after collection. */
export const MIN_TTL_MS = 1_000;
export const MAX_TTL_MS = 86_400_000;
export const DEFAULT_TTL_MS = 30_000;
export const DEFAULT_WEIGHT = 100;
export const MAX_WEIGHT = 1000;
export const MAX_PORT = 65535;

/** Free text (version, environment, region, capabilities, dependencies). */
export const MAX_SHORT_TEXT_CHARS = 128;
export const MAX_URL_CHARS = 2048;
export const MAX_HOST_CHARS = 253;
/** Tags and endpoints: how many keys, and how long a key may be. Capabilities and dependencies
 * hold at most as many items. */
export const MAX_MAP_KEYS = 64;
export const MAX_MAP_KEY_CHARS = 128;
export const TAG_CHARS = { min: 0, max: 256 } as const;
export const ENDPOINT_CHARS = { min: 1, max: MAX_URL_CHARS } as const;

/** RFC 1123 host names (underscores allowed, as DNS-SD and container names use them): dot-separated
 * labels of 1-63 letters, digits, `-` or `_`, not starting or ending with `-`; an optional final dot. */
const HOST_NAME =
  /^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** A host name or an IPv4/IPv6 literal: never text that could pass for something else in a log
 * line or a terminal (control characters, spaces, bidi overrides). */
export function isHostAddress(host: string): boolean {
  return HOST_NAME.test(host) || isIP(host) !== 0;
}

/** Printable ASCII without `"` and `\`: such text is its own JSON between quotes, which is how
 * the canonical rendering writes it (instance.ts) and how the text reader takes it
 * (canonical-body.ts). */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

export function isPlainText(text: string): boolean {
  return PLAIN.test(text);
}
