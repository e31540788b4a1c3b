import {
  type EntryRecord,
  type EntryState,
  INSTANCE_ID,
  isCount,
  isHlcTimestamp,
  lastHeartbeatOf,
  leaseEnd,
  SERVICE_NAME,
  STATUSES,
  type Status,
} from "../core/mod.js";
import { NODE_ID } from "../core/node-id.js";

/**
 * The disk layout of one entry (formats 2 and 3), independent of the sync wire format so either
 * can change alone. Positional; only append. The lease end and last heartbeat are derived from
 * (hlc, ttlMs), so they are not stored.
 */
export type StoredEntry = [
  service: string,
  id: string,
  hlc: number,
  node: string,
  body: string | null,
  status: Status,
  ver: string,
  ttlMs: number,
  registeredAt: number,
  seq: number,
];

const STORED_LENGTH = 10;
const STATUS_SET: ReadonlySet<string> = new Set(STATUSES);

export function toStored(entry: EntryState & { seq: number }): StoredEntry {
  return [
    entry.service,
    entry.id,
    entry.hlc,
    entry.node,
    entry.body,
    entry.status,
    entry.ver,
    entry.ttlMs,
    entry.registeredAt,
    entry.seq,
  ];
}

/**
 * The record behind a stored value, checked field by field; a message naming the defect
 * otherwise. The checksum already caught corruption on disk: this catches a record that no
 * regsync could have written. Whether it belongs under its key is the caller's check.
 */
export function fromStored(value: unknown): (EntryRecord & { seq: number }) | string {
  if (!Array.isArray(value) || value.length < STORED_LENGTH) return "not an entry record";
  const [service, id, hlc, node, body, status, ver, ttlMs, registeredAt, seq] = value;
  if (typeof service !== "string" || !SERVICE_NAME.test(service)) return "bad service";
  if (typeof id !== "string" || !INSTANCE_ID.test(id)) return "bad id";
  if (!isHlcTimestamp(hlc)) return "bad version";
  if (typeof node !== "string" || !NODE_ID.test(node)) return "bad node id";
  if (body !== null && typeof body !== "string") return "bad body";
  if (typeof status !== "string" || !STATUS_SET.has(status)) return "bad status";
  if (typeof ver !== "string") return "bad instance version";
  if (!isCount(ttlMs) || !isCount(registeredAt) || !isCount(seq) || seq === 0)
    return "bad lease field or seq";
  const state = {
    service,
    id,
    hlc,
    node,
    body,
    status: status as Status,
    ver,
    ttlMs,
    registeredAt,
  };
  return {
    ...state,
    lastHeartbeat: lastHeartbeatOf(state),
    expiresAt: leaseEnd(state),
    seq,
  };
}

/** A format-1 value: the sync wire tuple of that time, then the seq. */
export function storedFromLegacy(value: unknown): unknown {
  if (!Array.isArray(value) || value.length < 12) return value;
  // [service, id, hlc, node, body, status, ver, ttlMs, registeredAt, lastHeartbeat, expiresAt, seq]
  return [...value.slice(0, 9), value[value.length - 1]];
}
