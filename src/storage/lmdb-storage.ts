import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync } from "node:fs";
import { type Database, open, type RootDatabase } from "lmdb";
import { type Entry, type EntryRecord, entryKey } from "../core/mod.js";
import { type EntryTuple, fromTuples, toTuple } from "../sync/entry-codec.js";
import type { PersistedState, ReplicaStorage } from "./storage.js";

/** Layout version of the data directory; a directory of another layout is refused, not guessed. */
const STORAGE_FORMAT = 1;

interface Meta {
  format: number;
  nodeId: string;
  epoch: string;
  head: number;
}

/** A data directory that belongs to another node or layout, or cannot be read. Never wiped. */
export class DataDirError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DataDirError";
  }
}

/**
 * The replica in LMDB (DESIGN.md §5): one record per key, the newest seq issued, and peers'
 * cursors. LMDB batches the writes of one event-loop turn into one durable transaction, so
 * concurrent writes share a sync and `commit` resolves once they are on disk.
 */
export class LmdbStorage implements ReplicaStorage {
  private readonly root: RootDatabase;
  private readonly entries: Database<[...EntryTuple, number], string>;
  private readonly meta: Database<Meta, string>;
  private readonly cursors: Database<{ epoch: string; cursor: number }, string>;
  private epoch = "";
  /** The highest head queued since the last write of the meta record. */
  private pendingHead = 0;
  private headWrite: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly nodeId: string,
  ) {
    const fresh = !existsSync(dir) || readdirSync(dir).length === 0;
    mkdirSync(dir, { recursive: true });
    if (!fresh && !existsSync(`${dir}/data.mdb`)) {
      throw new DataDirError(`${dir} is not empty and holds no regsync data; refusing to use it`);
    }
    if (!fresh && !looksLikeLmdb(`${dir}/data.mdb`)) {
      // LMDB trusts its file and would crash on garbage: check the meta page's magic first.
      throw new DataDirError(`${dir}/data.mdb is not an LMDB file (corrupt?); refusing to use it`);
    }
    try {
      // A directory, whatever its name: lmdb takes a path with an extension ("dur.Fjma") for a file.
      this.root = open({ path: dir, maxDbs: 8, noSubdir: false });
      this.entries = this.root.openDB({ name: "entries" });
      this.meta = this.root.openDB({ name: "meta" });
      this.cursors = this.root.openDB({ name: "cursors" });
    } catch (error) {
      throw new DataDirError(`cannot open data directory ${dir}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  load(): PersistedState | undefined {
    const meta = this.meta.get("meta");
    if (meta === undefined) return undefined;
    if (meta.format !== STORAGE_FORMAT) {
      throw new DataDirError(
        `${this.dir} has storage format ${meta.format}; this regsync reads format ${STORAGE_FORMAT}`,
      );
    }
    if (meta.nodeId !== this.nodeId) {
      throw new DataDirError(
        `${this.dir} belongs to node "${meta.nodeId}", not "${this.nodeId}"; refusing to use it`,
      );
    }
    this.epoch = meta.epoch;
    const rows: { tuple: EntryTuple; seq: number }[] = [];
    for (const { value } of this.entries.getRange()) {
      const seq = value[value.length - 1] as number;
      rows.push({ tuple: value.slice(0, -1) as EntryTuple, seq });
    }
    let records: EntryRecord[];
    try {
      records = fromTuples(rows.map((r) => r.tuple));
    } catch (error) {
      throw new DataDirError(`${this.dir} holds a corrupt entry (${(error as Error).message})`, {
        cause: error,
      });
    }
    const entries = records
      .map((r, i) => ({ ...r, seq: rows[i]!.seq }))
      .sort((a, b) => a.seq - b.seq);
    const cursors = new Map<string, { epoch: string; cursor: number }>();
    for (const { key, value } of this.cursors.getRange()) cursors.set(key, value);
    return { epoch: meta.epoch, head: meta.head, entries, cursors };
  }

  async initialise(epoch: string): Promise<void> {
    this.epoch = epoch;
    await this.meta.put("meta", { format: STORAGE_FORMAT, nodeId: this.nodeId, epoch, head: 0 });
  }

  /**
   * Queues the entries and resolves once they are durable. LMDB commits everything queued in
   * one event-loop turn as one transaction; the head is written once per such batch (the last
   * caller's, which is the highest), not once per write.
   */
  commit(entries: readonly Entry[], head: number): Promise<void> {
    let last: Promise<boolean> | undefined;
    for (const entry of entries)
      last = this.entries.put(entryKey(entry.service, entry.id), [...toTuple(entry), entry.seq]);
    this.pendingHead = Math.max(this.pendingHead, head);
    if (this.headWrite === undefined) {
      this.headWrite = new Promise<void>((resolve, reject) => {
        queueMicrotask(() => {
          const head = this.pendingHead;
          this.headWrite = undefined;
          this.meta
            .put("meta", { format: STORAGE_FORMAT, nodeId: this.nodeId, epoch: this.epoch, head })
            .then(() => resolve(), reject);
        });
      });
    }
    const headWritten = this.headWrite;
    return last === undefined
      ? headWritten
      : Promise.all([last, headWritten]).then(() => undefined);
  }

  async remove(entries: readonly Entry[]): Promise<void> {
    await Promise.all(entries.map((e) => this.entries.remove(entryKey(e.service, e.id))));
  }

  async saveCursor(peer: string, epoch: string, cursor: number): Promise<void> {
    await this.cursors.put(peer, { epoch, cursor });
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}

/** LMDB's meta page carries the magic 0xBEEFC0DE right after the page header. */
const LMDB_MAGIC = 0xbeefc0de;

function looksLikeLmdb(file: string): boolean {
  const head = Buffer.alloc(32);
  const fd = openSync(file, "r");
  try {
    if (readSync(fd, head, 0, head.length, 0) < head.length) return false;
  } finally {
    closeSync(fd);
  }
  return head.readUInt32LE(16) === LMDB_MAGIC || head.readUInt32LE(24) === LMDB_MAGIC;
}
