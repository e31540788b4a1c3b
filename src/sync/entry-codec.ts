import { NODE_ID } from "../contract/ids.js";
import { isCount } from "../core/count.js";
import { internTable } from "../core/intern.js";
import {
  bodyDefect,
  type EntryRecord,
  type EntryState,
  hlcWall,
  INSTANCE_ID,
  isHlcTimestamp,
  lastHeartbeatOf,
  leaseEnd,
  MAX_TTL_MS,
  MIN_TTL_MS,
  type RegistryStore,
  SERVICE_NAME,
  STATUSES,
  type Status,
} from "../core/mod.js";
import { NamedError } from "../core/named-error.js";

/**
 * Entries travel as positional tuples: msgpack then spends no bytes on field names, and a
 * tuple is checked field by field without building an intermediate object.
 * Field order is part of the sync protocol: only append.
 */
export type EntryTuple = [
  service: string,
  id: string,
  hlc: number,
  node: string,
  body: string | null,
  status: Status,
  ver: string,
  ttlMs: number,
  registeredAt: number,
  lastHeartbeat: number,
  expiresAt: number,
];

const TUPLE_LENGTH = 11;
/** A body larger than this cannot come from a valid registration (bounded fields). */
export const MAX_BODY_CHARS = 48 * 1024;
const STATUS_BY_NAME: ReadonlyMap<string, Status> = new Map(STATUSES.map((s) => [s, s]));

/** One shared copy of the strings that repeat across decoded entries (service names, node
 * ids, instance versions). */
const intern = internTable(65_536);

/** The tuple of an entry, whose lease fields are derived from its state. */
export function toTuple(e: EntryState): EntryTuple {
  return [
    e.service,
    e.id,
    e.hlc,
    e.node,
    e.body,
    e.status,
    e.ver,
    e.ttlMs,
    e.registeredAt,
    lastHeartbeatOf(e),
    leaseEnd(e),
  ];
}

/** A peer sent an entry that no valid node could have written. */
export class InvalidEntryError extends NamedError {
  constructor(
    readonly index: number,
    detail: string,
  ) {
    super(`entry ${index}: ${detail}`);
  }
}

/** The entry this replica holds for a key, if any. */
export type HeldEntry = (service: string, id: string) => EntryState | undefined;

export function heldIn(store: RegistryStore): HeldEntry {
  return (service, id) => store.get(service, id);
}

/**
 * Checks every tuple of a batch and converts it to a record. All or nothing: one bad entry
 * rejects the batch, so a faulty peer can never leave half its batch applied. `held`: the
 * replica's entries, whose bodies were checked when they were stored.
 */
export function fromTuples(value: unknown, held?: HeldEntry): EntryRecord[] {
  if (!Array.isArray(value)) throw new InvalidEntryError(-1, "entries is not an array");
  const out: EntryRecord[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) out[i] = fromTuple(value[i], i, held);
  return out;
}

/**
 * A heartbeat's entry repeats the body the replica holds for its key, with the same ttl and
 * version: it was checked when it was stored, so parsing and rendering it again would find
 * what it found then. Most writes of a registry at rest are heartbeats.
 */
function checkedBefore(held: EntryState, body: string, ttlMs: number, ver: string): boolean {
  return held.ttlMs === ttlMs && held.ver === ver && held.body === body;
}

function fromTuple(t: unknown, i: number, held: HeldEntry | undefined): EntryRecord {
  if (!Array.isArray(t) || t.length < TUPLE_LENGTH)
    throw new InvalidEntryError(i, "not an entry tuple");
  const [service, id, hlc, node, body, status, ver, ttlMs, registeredAt, lastHeartbeat, expiresAt] =
    t;
  if (typeof service !== "string" || !SERVICE_NAME.test(service))
    throw new InvalidEntryError(i, "bad service");
  if (typeof id !== "string" || !INSTANCE_ID.test(id)) throw new InvalidEntryError(i, "bad id");
  if (!isHlcTimestamp(hlc)) throw new InvalidEntryError(i, "bad version timestamp");
  if (typeof node !== "string" || !NODE_ID.test(node))
    throw new InvalidEntryError(i, "bad node id");
  if (body !== null && !isBoundedText(body)) throw new InvalidEntryError(i, "bad body");
  const knownStatus = typeof status === "string" ? STATUS_BY_NAME.get(status) : undefined;
  if (knownStatus === undefined) throw new InvalidEntryError(i, "bad status");
  if (typeof ver !== "string" || ver.length > 128)
    throw new InvalidEntryError(i, "bad instance version");
  if (!isCount(ttlMs) || !isCount(registeredAt) || !isCount(lastHeartbeat) || !isCount(expiresAt)) {
    throw new InvalidEntryError(i, "bad lease field");
  }
  let kept = body as string | null;
  let defect: string | undefined;
  if (body === null)
    defect = tombstoneDefect(knownStatus, ttlMs, registeredAt, lastHeartbeat, expiresAt);
  else {
    defect = leaseDefect(hlc, ttlMs, registeredAt, lastHeartbeat, expiresAt);
    if (defect === undefined) {
      const before = held?.(service, id);
      // The replica's own copy of an equal body is kept: it already lives in V8's old
      // generation, and the copy just decoded dies young instead of being copied by two
      // scavenges. 200,000 peers' heartbeats merged in one process (`--trace-gc-nvp`, a
      // one-off): 78 MB promoted and 70 ms of scavenges before, 19 MB and 31 ms after.
      if (before !== undefined && checkedBefore(before, body as string, ttlMs, ver))
        kept = before.body;
      else defect = bodyDefect(body as string, { ttlMs, ver });
    }
  }
  if (defect !== undefined) throw new InvalidEntryError(i, defect);
  return {
    service: intern(service),
    id,
    hlc,
    node: intern(node),
    body: kept,
    status: knownStatus,
    ver: intern(ver),
    ttlMs,
    registeredAt,
    lastHeartbeat,
    expiresAt,
  };
}

/**
 * A peer's lease gets the bounds a client's registration gets, and its derived fields must be
 * those its version implies: a lease a client could not have asked for (2^53 ms: never expires,
 * never collected) is refused, not stored.
 */
function leaseDefect(
  hlc: number,
  ttlMs: number,
  registeredAt: number,
  lastHeartbeat: number,
  expiresAt: number,
): string | undefined {
  if (ttlMs < MIN_TTL_MS || ttlMs > MAX_TTL_MS)
    return `ttlMs ${ttlMs} outside [${MIN_TTL_MS}, ${MAX_TTL_MS}]`;
  const wall = hlcWall(hlc);
  if (registeredAt === 0 || registeredAt > wall) return "registeredAt after its version";
  if (lastHeartbeat !== wall) return "lastHeartbeat differs from its version";
  if (expiresAt !== wall + ttlMs) return "expiresAt differs from its version and ttlMs";
  return undefined;
}

/** A tombstone carries no lease (store.ts `tombstoneOf`). */
function tombstoneDefect(
  status: Status,
  ttlMs: number,
  registeredAt: number,
  lastHeartbeat: number,
  expiresAt: number,
): string | undefined {
  if (status !== "stopped") return "tombstone with a status other than stopped";
  if (ttlMs !== 0 || registeredAt !== 0 || lastHeartbeat !== 0 || expiresAt !== 0)
    return "tombstone with a lease";
  return undefined;
}

/** Lookups splice the body into JSON replies, so it must be one JSON object and nothing else:
 * `bodyDefect` proves it, as it requires the body to be the canonical rendering of a valid
 * instance. This only bounds what that check is given. */
function isBoundedText(body: unknown): body is string {
  return typeof body === "string" && body.length >= 2 && body.length <= MAX_BODY_CHARS;
}
