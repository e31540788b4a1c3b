import { chmodSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";
import { type Entry, type EntryRecord, entryKey } from "../core/mod.js";
import { NamedError } from "../core/named-error.js";
import { DirLock, LOCK_FILE } from "./dir-lock.js";
import { GroupCommit } from "./group-commit.js";
import { checkLmdbFile } from "./lmdb-file-check.js";
import { isSealed, seal, unpackLegacy, unseal } from "./sealed.js";
import type { PersistedState, ReplicaStorage, UnreportedExpiry } from "./storage.js";
import { fromStored, storedFromLegacy, toStored } from "./stored-entry.js";

/**
 * Layout version of the data directory. Format 1 stored the sync wire tuples as plain msgpack;
 * format 2 stores its own record layout (stored-entry.ts) sealed with a checksum (sealed.ts).
 * A format-1 directory is migrated in one transaction at start; any other is refused.
 */
const STORAGE_FORMAT = 2;
const LEGACY_FORMAT = 1;
/** How long a cursor save may wait for a transaction to ride with. */
const CURSOR_SAVE_DELAY_MS = 1_000;

interface Meta {
  format: number;
  nodeId: string;
  epoch: string;
  head: number;
}

/** A data directory that belongs to another node or layout, or cannot be read. Never wiped. */
export class DataDirError extends NamedError {}

/**
 * The replica in LMDB (DESIGN.md §5): one record per key, the newest seq issued, and peers'
 * cursors. LMDB batches the writes of one event-loop turn into one durable transaction, so
 * concurrent writes share a sync and `commit` resolves once they are on disk.
 *
 * The directory is the node's alone (an exclusive lock), readable by its user alone (0700 and
 * 0600), and every value carries a checksum; a directory that fails any check is refused at
 * start with the reason, and never read as empty or written over.
 */
export class LmdbStorage implements ReplicaStorage {
  private readonly root: RootDatabase;
  private readonly entries: Database<Buffer, string>;
  private readonly meta: Database<Buffer, string>;
  private readonly cursors: Database<Buffer, string>;
  private readonly lock: DirLock;
  private epoch = "";
  /** Entry writes (a value) and removals (undefined) queued for the next transaction. */
  private pending: [key: string, value: Buffer | undefined][] = [];
  /** The highest head queued, and the highest written. */
  private pendingHead = 0;
  private writtenHead = 0;
  private readonly pendingCursors = new Map<string, Buffer>();
  private pendingUnreported: Buffer | undefined;
  private readonly group = new GroupCommit(() => this.writeGroup(), CURSOR_SAVE_DELAY_MS);

  constructor(
    private readonly dir: string,
    private readonly nodeId: string,
  ) {
    const listing = existsSync(dir) ? readdirSync(dir).filter((f) => f !== LOCK_FILE) : [];
    const fresh = listing.length === 0;
    if (!fresh && !listing.includes("data.mdb")) {
      throw new DataDirError(`${dir} is not empty and holds no regsync data; refusing to use it`);
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      this.lock = DirLock.acquire(dir);
    } catch (error) {
      throw new DataDirError((error as Error).message, { cause: error });
    }
    try {
      if (!fresh) {
        // LMDB trusts its file and would crash on a truncated or garbled one: check it first.
        const defect = checkLmdbFile(join(dir, "data.mdb"));
        if (defect !== undefined)
          throw new DataDirError(`${dir}/data.mdb is corrupt (${defect}); refusing to use it`);
      }
      try {
        // A directory, whatever its name: lmdb takes a path with an extension ("dur.Fjma") for a file.
        this.root = open({ path: dir, maxDbs: 8, noSubdir: false });
        this.entries = this.root.openDB({ name: "entries", encoding: "binary" });
        this.meta = this.root.openDB({ name: "meta", encoding: "binary" });
        this.cursors = this.root.openDB({ name: "cursors", encoding: "binary" });
      } catch (error) {
        throw new DataDirError(`cannot open data directory ${dir}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      for (const file of ["data.mdb", "lock.mdb"]) chmodSync(join(dir, file), 0o600);
    } catch (error) {
      this.lock.release();
      throw error;
    }
  }

  load(): PersistedState | undefined {
    const raw = this.meta.getBinary("meta");
    if (raw === undefined) {
      if (this.entryCount() > 0)
        throw new DataDirError(`${this.dir} holds entries but no meta record (corrupt?)`);
      return undefined;
    }
    if (!isSealed(raw)) return this.migrate(raw);
    const meta = this.checkMeta(this.unsealOrRefuse("meta", raw) as Meta);
    const entries = this.readEntries((key, value) => this.unsealOrRefuse(`entry ${key}`, value));
    const cursors = new Map<string, { epoch: string; cursor: number }>();
    for (const { key, value } of this.cursors.getRange())
      cursors.set(key, this.unsealOrRefuse(`cursor of ${key}`, value) as never);
    const saved = this.meta.getBinary(UNREPORTED_KEY);
    const unreported =
      saved === undefined ? [] : checkUnreported(this.unsealOrRefuse("unreported expiries", saved));
    if (unreported === undefined)
      throw new DataDirError(`${this.dir} holds a corrupt list of unreported expiries`);
    return this.restored(meta, entries, cursors, unreported);
  }

  async initialise(epoch: string): Promise<void> {
    this.epoch = epoch;
    await this.meta.put("meta", this.metaRecord(0));
  }

  /**
   * Queues the entries and resolves once they are durable. Everything queued while the previous
   * transaction is on its way to disk goes out as the next one (group-commit.ts): client writes,
   * peers' entries, the head, cursors, in the order they were queued.
   */
  commit(entries: readonly Entry[], head: number): Promise<void> {
    for (const entry of entries)
      this.pending.push([entryKey(entry.service, entry.id), seal(toStored(entry))]);
    this.pendingHead = Math.max(this.pendingHead, head);
    return this.group.join();
  }

  remove(entries: readonly Entry[]): Promise<void> {
    for (const e of entries) this.pending.push([entryKey(e.service, e.id), undefined]);
    return this.group.join();
  }

  /** Rides with the next transaction (at most CURSOR_SAVE_DELAY_MS later): a cursor saved late
   * costs a longer re-pull after a restart, never an entry, and entries were durable before
   * their cursor was handed in. */
  saveCursor(peer: string, epoch: string, cursor: number): Promise<void> {
    this.pendingCursors.set(peer, seal({ epoch, cursor }));
    return this.group.joinLazily();
  }

  saveUnreported(unreported: readonly UnreportedExpiry[]): Promise<void> {
    this.pendingUnreported = seal(unreported);
    return this.group.join();
  }

  async close(): Promise<void> {
    try {
      await this.group.drain();
      await this.root.close();
    } finally {
      this.lock.release();
    }
  }

  /** Queues everything pending in one go, so LMDB commits it as one transaction. */
  private writeGroup(): Promise<unknown> {
    const writes = new Set<Promise<unknown>>();
    const entriesWritten = this.pending.length > 0;
    for (const [key, value] of this.pending)
      writes.add(value === undefined ? this.entries.remove(key) : this.entries.put(key, value));
    this.pending = [];
    // With every entry write, so no entry on disk is ever past the head on disk, even after a
    // group that failed; a group of cursors alone leaves it be.
    if (entriesWritten || this.pendingHead > this.writtenHead) {
      writes.add(this.meta.put("meta", this.metaRecord(this.pendingHead)));
      this.writtenHead = this.pendingHead;
    }
    for (const [peer, value] of this.pendingCursors) writes.add(this.cursors.put(peer, value));
    this.pendingCursors.clear();
    if (this.pendingUnreported !== undefined) {
      writes.add(this.meta.put(UNREPORTED_KEY, this.pendingUnreported));
      this.pendingUnreported = undefined;
    }
    return Promise.all(writes);
  }

  /** LMDB's own count of the entries tree, kept in the tree's record apart from its pages. */
  private entryCount(): number {
    return (this.entries.getStats() as { entryCount: number }).entryCount;
  }

  private metaRecord(head: number): Buffer {
    return seal({ format: STORAGE_FORMAT, nodeId: this.nodeId, epoch: this.epoch, head });
  }

  private unsealOrRefuse(what: string, value: Buffer): unknown {
    try {
      return unseal(value);
    } catch (error) {
      throw new DataDirError(
        `${this.dir} holds a corrupt ${what} (${(error as Error).message}); refusing to use it`,
        { cause: error },
      );
    }
  }

  private checkMeta(meta: Meta): Meta {
    if (meta === null || typeof meta !== "object" || typeof meta.epoch !== "string")
      throw new DataDirError(`${this.dir} holds a corrupt meta record`);
    if (meta.format !== STORAGE_FORMAT && meta.format !== LEGACY_FORMAT) {
      throw new DataDirError(
        `${this.dir} has storage format ${meta.format}; this regsync reads format ${STORAGE_FORMAT}`,
      );
    }
    if (meta.nodeId !== this.nodeId) {
      throw new DataDirError(
        `${this.dir} belongs to node "${meta.nodeId}", not "${this.nodeId}"; refusing to use it`,
      );
    }
    if (!Number.isSafeInteger(meta.head) || meta.head < 0)
      throw new DataDirError(`${this.dir} holds a corrupt meta record (head ${meta.head})`);
    return meta;
  }

  /**
   * Every entry, checked. LMDB counts the entries of each tree in the tree's own record, apart
   * from the pages holding them: a corrupted page that hides entries from the scan shows up as
   * a count that does not match, instead of as a smaller, silently wrong replica.
   */
  private readEntries(
    decode: (key: string, value: Buffer) => unknown,
  ): (EntryRecord & { seq: number })[] {
    const out: (EntryRecord & { seq: number })[] = [];
    let scanned: number;
    try {
      for (const { key, value } of this.entries.getRange()) {
        const record = fromStored(key, decode(key, value));
        if (typeof record === "string")
          throw new DataDirError(`${this.dir} holds a corrupt entry ${key} (${record})`);
        out.push(record);
      }
      scanned = out.length;
    } catch (error) {
      if (error instanceof DataDirError) throw error;
      throw new DataDirError(`${this.dir}: cannot read entries (${(error as Error).message})`, {
        cause: error,
      });
    }
    const counted = this.entryCount();
    if (scanned !== counted) {
      throw new DataDirError(
        `${this.dir} is corrupt: LMDB counts ${counted} entries but ${scanned} can be read; refusing to use it`,
      );
    }
    return out;
  }

  private restored(
    meta: Meta,
    entries: (EntryRecord & { seq: number })[],
    cursors: Map<string, { epoch: string; cursor: number }>,
    unreported: UnreportedExpiry[] = [],
  ): PersistedState {
    for (const entry of entries) {
      if (entry.seq > meta.head)
        throw new DataDirError(
          `${this.dir} is corrupt: entry ${entryKey(entry.service, entry.id)} has seq ${entry.seq} past the head ${meta.head}`,
        );
    }
    this.epoch = meta.epoch;
    entries.sort((a, b) => a.seq - b.seq);
    return { epoch: meta.epoch, head: meta.head, entries, cursors, unreported };
  }

  /** A format-1 directory: every value rewritten sealed, in one transaction, then loaded. */
  private migrate(raw: Buffer): PersistedState {
    let meta: Meta;
    try {
      meta = unpackLegacy(raw) as Meta;
    } catch (error) {
      throw new DataDirError(`${this.dir} holds a corrupt meta record`, { cause: error });
    }
    this.checkMeta(meta);
    if (meta.format !== LEGACY_FORMAT)
      throw new DataDirError(`${this.dir} holds an unsealed meta record of format ${meta.format}`);
    const legacy = (key: string, value: Buffer): unknown => {
      try {
        return storedFromLegacy(unpackLegacy(value));
      } catch (error) {
        throw new DataDirError(`${this.dir} holds a corrupt entry ${key}`, { cause: error });
      }
    };
    const entries = this.readEntries(legacy);
    const cursors = new Map<string, { epoch: string; cursor: number }>();
    for (const { key, value } of this.cursors.getRange())
      cursors.set(key, unpackLegacy(value) as { epoch: string; cursor: number });
    this.epoch = meta.epoch;
    this.root.transactionSync(() => {
      for (const e of entries) {
        this.entries.putSync(entryKey(e.service, e.id), seal(toStored(e)));
      }
      for (const [peer, cursor] of cursors) this.cursors.putSync(peer, seal(cursor));
      this.meta.putSync("meta", this.metaRecord(meta.head));
    });
    return this.restored({ ...meta, format: STORAGE_FORMAT }, entries, cursors);
  }
}

/** The meta record's neighbour that lists the expiries owed an `expired` event. */
const UNREPORTED_KEY = "unreported";

/** The saved list if every item has the shape of an UnreportedExpiry, else undefined. */
function checkUnreported(value: unknown): UnreportedExpiry[] | undefined {
  if (!Array.isArray(value)) return undefined;
  for (const item of value as Partial<UnreportedExpiry>[]) {
    if (
      item === null ||
      typeof item !== "object" ||
      typeof item.service !== "string" ||
      typeof item.id !== "string" ||
      !Number.isSafeInteger(item.hlc) ||
      typeof item.instance !== "string"
    )
      return undefined;
  }
  return value as UnreportedExpiry[];
}
