import { hash as oneShotHash } from "node:crypto";
import { type HlcTimestamp, hlcWall } from "./hlc.js";
import type { Status } from "./instance.js";

/**
 * An entry as it travels between nodes and to disk: the newest known state of one key
 * `<service>/<id>`, either an instance or a tombstone (`body === null`), with its version
 * `(hlc, node)`.
 */
export interface EntryRecord {
  service: string;
  id: string;
  /** Version, part 1: hybrid logical clock timestamp of the write. */
  hlc: HlcTimestamp;
  /** Version, part 2: the node that made the write (and, for an instance, holds its lease). */
  node: string;
  /** Canonical JSON of the instance's descriptive fields; null for a tombstone. */
  body: string | null;
  status: Status;
  /** The instance's `version` field ("" when absent); on a tombstone, that of the instance it
   * deleted, so the `version` merge strategy stays a total order. */
  ver: string;
  ttlMs: number;
  registeredAt: number;
  lastHeartbeat: number;
  expiresAt: number;
}

/** The in-memory entry: the record plus local bookkeeping that is never replicated. */
export class Entry implements EntryRecord {
  service: string;
  id: string;
  hlc: HlcTimestamp;
  node: string;
  body: string | null;
  status: Status;
  ver: string;
  ttlMs: number;
  registeredAt: number;
  /** Local change sequence number of the last change applied to this key. */
  seq = 0;
  /** 128-bit entry hash as four int32 lanes (big-endian), kept so replacing an entry costs one
   * hash instead of two. */
  h0 = 0;
  h1 = 0;
  h2 = 0;
  h3 = 0;
  /** This node has already noticed that the lease passed (an expiry is reported once). */
  expiredSeen = false;
  /** Key hash for reconciliation (reconcile/key-hash.ts) as int32 halves, set by ReconIndex. */
  k0 = 0;
  k1 = 0;

  constructor(record: EntryRecord) {
    this.service = record.service;
    this.id = record.id;
    this.hlc = record.hlc;
    this.node = record.node;
    this.body = record.body;
    this.status = record.status;
    this.ver = record.ver;
    this.ttlMs = record.ttlMs;
    this.registeredAt = record.registeredAt;
    this.rehash();
  }

  /** The lease: derived from the version and the ttl (see leaseEnd), not stored. */
  get expiresAt(): number {
    return leaseEnd(this);
  }

  /** Every write of an instance is a renewal, made at its version's wall time. */
  get lastHeartbeat(): number {
    return this.body === null ? 0 : hlcWall(this.hlc);
  }

  get key(): string {
    return entryKey(this.service, this.id);
  }

  get isTombstone(): boolean {
    return this.body === null;
  }

  /** Replaces the replicated state with a newer record, keeping local bookkeeping. */
  assign(record: EntryRecord): void {
    this.hlc = record.hlc;
    this.node = record.node;
    this.body = record.body;
    this.status = record.status;
    this.ver = record.ver;
    this.ttlMs = record.ttlMs;
    this.registeredAt = record.registeredAt;
    this.expiredSeen = false;
    this.rehash();
  }

  toRecord(): EntryRecord {
    return {
      service: this.service,
      id: this.id,
      hlc: this.hlc,
      node: this.node,
      body: this.body,
      status: this.status,
      ver: this.ver,
      ttlMs: this.ttlMs,
      registeredAt: this.registeredAt,
      lastHeartbeat: this.lastHeartbeat,
      expiresAt: this.expiresAt,
    };
  }

  private rehash(): void {
    const digest = entryHashBytes(this.service, this.id, this.hlc, this.node);
    this.h0 = int32At(digest, 0);
    this.h1 = int32At(digest, 4);
    this.h2 = int32At(digest, 8);
    this.h3 = int32At(digest, 12);
  }
}

export function entryKey(service: string, id: string): string {
  return `${service}/${id}`;
}

/**
 * SHA-256 of (key, version). Digests and reconciliation fingerprints are sums of these, so the
 * hash must be strong: with a weak one, two different states could be crafted or stumbled into
 * that sum to the same digest and never be repaired. Only the first 16 bytes are used.
 */
export function entryHash(service: string, id: string, hlc: HlcTimestamp, node: string): Buffer {
  return Buffer.from(entryHashBytes(service, id, hlc, node), "latin1");
}

/**
 * The digest as a string of byte values (latin1): one small string instead of a Buffer, which
 * makes the hash two to three times cheaper on the write path.
 */
function entryHashBytes(service: string, id: string, hlc: HlcTimestamp, node: string): string {
  return oneShotHash("sha256", `${service}/${id}\u0000${hlc}\u0000${node}`, "binary");
}

/** The big-endian int32 at `at` of a latin1 byte string. */
function int32At(bytes: string, at: number): number {
  return (
    (bytes.charCodeAt(at) << 24) |
    (bytes.charCodeAt(at + 1) << 16) |
    (bytes.charCodeAt(at + 2) << 8) |
    bytes.charCodeAt(at + 3)
  );
}

/** Approximate encoded size, used to cut batches before encoding them. */
export function estimateRecordBytes(record: EntryRecord): number {
  return (
    64 + record.service.length + record.id.length + record.node.length + (record.body?.length ?? 0)
  );
}

/**
 * When an instance's lease ends: every write of an instance (registration or renewal) sets
 * expiresAt to its version's wall time plus the ttl, so it follows from (hlc, ttlMs) and
 * entries do not store it: two boxed doubles fewer per entry. Deriving it also means a peer
 * cannot send a lease that disagrees with its own version. 0 for a tombstone.
 */
export function leaseEnd(record: {
  body: string | null;
  hlc: HlcTimestamp;
  ttlMs: number;
}): number {
  return record.body === null ? 0 : hlcWall(record.hlc) + record.ttlMs;
}
