import { chmodSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";
import { type Entry, entryKey } from "../core/mod.js";
import { NamedError } from "../core/named-error.js";
import { CpuPressure, type PressureGauge } from "./cpu-pressure.js";
import { DirLock, LOCK_FILE } from "./dir-lock.js";
import { GroupCommit } from "./group-commit.js";
import { checkLmdbFile } from "./lmdb-file-check.js";
import {
  checkLoggedGroup,
  type LoggedGroup,
  LogReplay,
  type StoredRecord,
} from "./logged-group.js";
import { isSealed, seal, unpackLegacy, unseal } from "./sealed.js";
import type { PersistedState, ReplicaStorage, StorageStats, UnreportedExpiry } from "./storage.js";
import { fromStored, storedFromLegacy, toStored } from "./stored-entry.js";
import {
  readGeneration,
  removeLogFiles,
  WalCorruptError,
  WriteAheadLog,
} from "./write-ahead-log.js";

/**
 * Layout version of the data directory. Format 1 stored the sync wire tuples as plain msgpack,
 * keyed by service/id; format 2 its own record layout (stored-entry.ts) sealed with a checksum
 * (sealed.ts), keyed likewise; format 3 keys the same sealed records by seq; format 4 adds the
 * write-ahead log (write-ahead-log.ts), whose frames LMDB has not folded in yet, and the
 * generation folded in the meta record. A directory of format 1, 2 or 3 is migrated at start;
 * any other is refused (an older regsync refuses format 4: it would not read the log).
 */
const STORAGE_FORMAT = 4;
const SEQ_FORMAT = 3;
const LEGACY_FORMAT = 1;
const KEYED_FORMAT = 2;
/** How long a cursor save may wait for a fold to ride with. */
const CURSOR_SAVE_DELAY_MS = 1_000;
/** LMDB takes the log's frames at most this long after the first of them was acknowledged... */
const FOLD_DELAY_MS = 1_000;
/**
 * ...or once this many records wait: a transaction of hundreds costs ~6 µs a record, against ~15
 * at the 20–30 a group holds (`npm run bench -- storage`). Not thousands: a fold queues every
 * record into LMDB in one event-loop turn, and at 4,096 those turns held up acks and peers'
 * announcements (writes bench, 5 × 20,000, 512 against 4,096: 1 durable node p99 0.72×, 3
 * durable nodes 1.12× the writes/s at 0.88× the CPU, p99 0.82×).
 */
const FOLD_RECORDS = 512;
/**
 * A group of at least this many records skips the log: it goes into LMDB at once, in a fold of
 * everything the log holds, and is acknowledged once that is durable. A logged record is written
 * twice (its frame, then the fold), which pays for small groups and not for large ones
 * (`npm run bench -- storage`, CPU per entry against one LMDB transaction a group: 0.67–0.73×
 * at 20 a group, 1.06–1.20× at 100, 1.7–2.1× at 1,000): a pulled page, a registration storm.
 */
const DIRECT_GROUP_RECORDS = 64;
/**
 * While the machine is short of CPU and writes keep coming, transactions start at most this
 * often: fewer, fuller transactions leave CPU to everything else. "Keep coming": the last
 * transaction held at least BUSY_GROUP_RECORDS records; a trickle of writes gains nothing from
 * waiting, and with a few processes on few cores the pressure gauge fires at light load too.
 * Measured in docs/performance.md (transactions spaced out under CPU pressure).
 */
const PRESSED_SPACING_MS = 6;
const BUSY_GROUP_RECORDS = 8;

interface Meta {
  format: number;
  nodeId: string;
  epoch: string;
  head: number;
  /** Format 4: the log's generations up to this one are in LMDB (-1: none yet). */
  folded?: number;
}

/** A record to write at `seq`, or (`deletes`: the entry it was a record of) one to delete. */
type PendingWrite =
  | { seq: number; value: Buffer; deletes?: undefined }
  | { seq: number; value?: undefined; deletes: Entry };

/** A data directory that belongs to another node or layout, or cannot be read. Never wiped. */
export class DataDirError extends NamedError {}

/**
 * The replica in LMDB (DESIGN.md §5): one record per key, the newest seq issued, and peers'
 * cursors. Writes queued while a group is on its way to disk go out together as the next one,
 * and `commit` resolves once its own are on disk: appended to the write-ahead log
 * (write-ahead-log.ts) and synced, a third of what an LMDB transaction costs (`npm run bench --
 * durable-group`). LMDB takes the logged groups later, many to a transaction (`fold`), off the
 * ack path; a start replays what the log holds beyond LMDB and folds it at once.
 *
 * Records are keyed by seq, the order this node wrote them in, not by service/id: a transaction
 * appends its records to the last pages of the tree and deletes each key's previous record, which
 * sits among the oldest (heartbeats come round in much the same order each time). Keyed by
 * service/id, every write dirtied a page of its own somewhere in the tree: a durable node's
 * storage took 1.1–1.25× this layout's CPU per entry at 20 entries a transaction, 1.2–1.7× at
 * 100 (`npm run bench -- storage` against e8a0f87, three runs in docs/performance.md).
 *
 * The directory is the node's alone (an exclusive lock), readable by its user alone (0700 and
 * 0600), and every value carries a checksum; a directory that fails any check is refused at
 * start with the reason, and never read as empty or written over.
 */
export class LmdbStorage implements ReplicaStorage {
  private readonly root: RootDatabase;
  /** Every entry's record, keyed by its seq (formats 3 and 4); by service/id before migration. */
  private readonly entries: Database<Buffer, number | string>;
  private readonly meta: Database<Buffer, string>;
  private readonly cursors: Database<Buffer, string>;
  private readonly lock: DirLock;
  private epoch = "";
  /** Entry writes and deletions queued for the next transaction. */
  private pending: PendingWrite[] = [];
  /**
   * Records that a failed transaction was to delete, by key: they are still on disk, and go
   * with the key's next write (never before: the key's newer record did not reach the disk).
   */
  private readonly leftBehind = new Map<string, number[]>();
  /** The highest head queued, and the highest written. */
  private pendingHead = 0;
  private writtenHead = 0;
  private readonly pendingCursors = new Map<string, Buffer>();
  private pendingUnreported: Buffer | undefined;
  private transactions = 0;
  private records = 0;
  private lastGroupRecords = 0;
  /** The log groups are made durable in; opened by load or initialise. */
  private log: WriteAheadLog<LoggedGroup> | undefined;
  /** The log's generations LMDB holds (-1: none), and the head it holds with them. */
  private folded = -1;
  private foldedHead = 0;
  /** Groups acknowledged and not yet in LMDB, oldest first, with their generation. */
  private unfolded: { generation: number; group: LoggedGroup }[] = [];
  private folding: Promise<void> | undefined;
  private foldTimer: ReturnType<typeof setTimeout> | undefined;
  private foldWanted = false;
  private closing = false;
  private readonly group = new GroupCommit(
    () => this.writeGroup(),
    CURSOR_SAVE_DELAY_MS,
    () =>
      this.lastGroupRecords >= BUSY_GROUP_RECORDS && this.pressure.underPressure()
        ? PRESSED_SPACING_MS
        : 0,
  );

  constructor(
    private readonly dir: string,
    private readonly nodeId: string,
    private readonly pressure: PressureGauge = new CpuPressure(),
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
    if (!isSealed(raw)) return this.migrateLegacy(raw);
    const meta = this.checkMeta(this.unsealOrRefuse("meta", raw) as Meta);
    const cursors = new Map<string, { epoch: string; cursor: number }>();
    for (const { key, value } of this.cursors.getRange())
      cursors.set(key, this.unsealOrRefuse(`cursor of ${key}`, value) as never);
    const saved = this.meta.getBinary(UNREPORTED_KEY);
    const unreported =
      saved === undefined ? [] : checkUnreported(this.unsealOrRefuse("unreported expiries", saved));
    if (unreported === undefined)
      throw new DataDirError(`${this.dir} holds a corrupt list of unreported expiries`);
    if (meta.format === LEGACY_FORMAT)
      throw new DataDirError(`${this.dir} holds a sealed meta record of format ${LEGACY_FORMAT}`);
    if (meta.format === KEYED_FORMAT) {
      const keyed = this.readKeyed((key, value) => this.unsealOrRefuse(`entry ${key}`, value));
      this.rewriteBySeq(meta, keyed, cursors);
      return this.restored(meta, keyed, cursors, unreported);
    }
    const records = this.readBySeq();
    const replayed = this.replayLog(meta, records, unreported);
    return this.restored(replayed.meta, records, cursors, replayed.unreported);
  }

  /**
   * The log's groups LMDB had not taken when the node stopped, applied onto `records` and
   * folded into LMDB at once: the node starts with nothing to replay. A torn last frame (a
   * group never acknowledged) is left out; any other defect refuses the directory. A format-3
   * directory has no log, and leaves this as format 4.
   */
  private replayLog(
    meta: Meta,
    records: Map<string, StoredRecord>,
    unreported: UnreportedExpiry[],
  ): { meta: Meta; unreported: UnreportedExpiry[] } {
    if (meta.format !== STORAGE_FORMAT) {
      // Written by a regsync without the log: any log file here is no record of this
      // directory's writes, and generation 0 must start empty.
      removeLogFiles(this.dir);
      this.epoch = meta.epoch;
      this.meta.putSync("meta", this.metaRecord(meta.head, -1));
      return { meta: { ...meta, folded: -1 }, unreported };
    }
    const folded = meta.folded ?? -1;
    const replay = new LogReplay(records, meta.head, (seq, sealed) => {
      const record = this.checkRecord(
        `logged at seq ${seq}`,
        this.unsealOrRefuse(`logged entry at seq ${seq}`, sealed),
      );
      if (record.seq !== seq)
        throw new DataDirError(
          `${this.dir} holds a corrupt logged entry at seq ${seq} (record of seq ${record.seq})`,
        );
      return record;
    });
    let last = folded;
    // A fold under way when the node stopped leaves two generations unfolded, never more.
    for (const generation of [folded + 1, folded + 2]) {
      for (const raw of this.readLogGeneration(generation)) {
        last = generation;
        const group = checkLoggedGroup(raw);
        if (group === undefined)
          throw new DataDirError(
            `${this.dir} holds a corrupt group in its write-ahead log (generation ${generation}); refusing to use it`,
          );
        replay.apply(group);
      }
    }
    const { head, puts, deletes, unreported: savedUnreported } = replay;
    let restoredUnreported = unreported;
    if (savedUnreported !== undefined) {
      const list = checkUnreported(
        this.unsealOrRefuse("logged list of unreported expiries", savedUnreported),
      );
      if (list === undefined)
        throw new DataDirError(`${this.dir} holds a corrupt logged list of unreported expiries`);
      restoredUnreported = list;
    }
    if (last > folded) {
      this.epoch = meta.epoch;
      this.root.transactionSync(() => {
        for (const seq of deletes) this.entries.removeSync(seq);
        for (const [seq, value] of puts) this.entries.putSync(seq, value);
        if (savedUnreported !== undefined) this.meta.putSync(UNREPORTED_KEY, savedUnreported);
        this.meta.putSync("meta", this.metaRecord(head, last));
      });
    }
    return { meta: { ...meta, head, folded: last }, unreported: restoredUnreported };
  }

  private readLogGeneration(generation: number): unknown[] {
    try {
      return readGeneration<unknown>(this.dir, generation);
    } catch (error) {
      if (!(error instanceof WalCorruptError)) throw error;
      throw new DataDirError(
        `${this.dir} holds a corrupt write-ahead log (${error.message}); refusing to use it`,
        { cause: error },
      );
    }
  }

  async initialise(epoch: string): Promise<void> {
    this.epoch = epoch;
    removeLogFiles(this.dir);
    await this.meta.put("meta", this.metaRecord(0, -1));
    this.log = WriteAheadLog.start(this.dir, 0);
  }

  /**
   * Queues the entries and resolves once they are durable. Everything queued while the previous
   * transaction is on its way to disk goes out as the next one (group-commit.ts): client writes,
   * peers' entries, the head, cursors, in the order they were queued.
   */
  commit(entries: readonly Entry[], head: number): Promise<void> {
    for (const entry of entries) {
      // The key's older records go in the same transaction as its new one: a key never has two
      // records on disk, nor none.
      this.deleteStored(entry, entry.seq);
      entry.storedSeq = entry.seq;
      this.pending.push({ seq: entry.seq, value: seal(toStored(entry)) });
    }
    this.pendingHead = Math.max(this.pendingHead, head);
    return this.group.join();
  }

  /** Forgets collected entries (the store has already cleared their seqs). */
  remove(entries: readonly Entry[]): Promise<void> {
    for (const e of entries) {
      this.deleteStored(e);
      e.storedSeq = 0;
    }
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

  stats(): StorageStats {
    return { transactions: this.transactions, records: this.records, spaced: this.group.spaced };
  }

  async close(): Promise<void> {
    this.closing = true;
    try {
      await this.group.drain();
      clearTimeout(this.foldTimer);
      this.foldTimer = undefined;
      if (this.log !== undefined) {
        // What the log holds goes into LMDB, so a clean stop leaves nothing to replay; if it
        // fails, the next start replays it.
        await this.folding?.catch(() => {});
        if (this.unfolded.length > 0 || this.pendingCursors.size > 0) {
          this.startFold(this.log);
          await this.folding?.catch(() => {});
        }
        this.log.close();
      }
      await this.root.close();
    } finally {
      this.lock.release();
    }
  }

  /** Queues the deletion of every record of `entry`'s key on disk, but one at seq `keep`. */
  private deleteStored(entry: Entry, keep?: number): void {
    const stored = entry.storedSeq;
    if (stored !== 0 && stored !== keep) this.pending.push({ seq: stored, deletes: entry });
    // Empty but after a failed transaction: spares every write building its key.
    if (this.leftBehind.size === 0) return;
    const key = entryKey(entry.service, entry.id);
    const left = this.leftBehind.get(key);
    if (left === undefined) return;
    this.leftBehind.delete(key);
    for (const seq of left) if (seq !== keep) this.pending.push({ seq, deletes: entry });
  }

  /**
   * Appends everything pending to the log as one group (one frame, one sync), then starts a
   * fold into LMDB if one is due. Takes the pending state in one synchronous go; peers'
   * cursors wait for the fold (a cursor saved late costs a longer re-pull, never an entry).
   */
  private writeGroup(): Promise<unknown> {
    const group = this.pending;
    this.pending = [];
    const logged: LoggedGroup = { puts: [], deletes: [], head: this.pendingHead };
    for (const write of group) {
      if (write.value === undefined) logged.deletes.push(write.seq);
      else logged.puts.push([write.seq, write.value]);
    }
    if (this.pendingUnreported !== undefined) {
      logged.unreported = this.pendingUnreported;
      this.pendingUnreported = undefined;
    }
    this.lastGroupRecords = group.length;
    const append =
      group.length > 0 || logged.unreported !== undefined || this.pendingHead > this.writtenHead;
    return this.writeLogged(append ? logged : undefined, group);
  }

  private async writeLogged(
    logged: LoggedGroup | undefined,
    group: readonly PendingWrite[],
  ): Promise<void> {
    const log = this.log;
    if (log === undefined) throw new Error("the storage was not loaded");
    if (logged !== undefined && group.length >= DIRECT_GROUP_RECORDS)
      return this.writeDirect(log, logged, group.length);
    if (logged !== undefined) {
      try {
        await log.append(logged);
      } catch (error) {
        this.failed(group);
        throw error;
      }
      this.transactions++;
      this.records += group.length;
      this.writtenHead = Math.max(this.writtenHead, logged.head);
      this.unfolded.push({ generation: log.generation, group: logged });
      if (this.foldTimer === undefined) {
        this.foldTimer = setTimeout(() => this.wantFold(), FOLD_DELAY_MS);
        this.foldTimer.unref?.();
      }
    }
    const due =
      this.foldWanted ||
      recordsIn(this.unfolded) >= FOLD_RECORDS ||
      (logged === undefined && this.pendingCursors.size > 0);
    if (due && this.folding === undefined) this.startFold(log);
  }

  /**
   * A large group, folded into LMDB at once with every group the log holds, instead of logged:
   * it resolves once a fold holding it is durable. If that fold fails, the group stays with the
   * unfolded ones and the next fold writes it (its writes were not acknowledged, and the replica
   * holds them in memory all the same); the ones before it stay in the log.
   */
  private async writeDirect(
    log: WriteAheadLog<LoggedGroup>,
    logged: LoggedGroup,
    records: number,
  ): Promise<void> {
    // Folds run one at a time, oldest generation first.
    await this.folding?.catch(() => {});
    const generation = log.generation;
    this.unfolded.push({ generation, group: logged });
    // One fold takes the current generation; two when the previous one's fold had failed.
    while (this.folded < generation) {
      this.startFold(log);
      await this.folding;
    }
    this.transactions++;
    this.records += records;
    this.writtenHead = Math.max(this.writtenHead, logged.head);
  }

  /** The fold timer's work: a group of its own, however quiet the node. */
  private wantFold(): void {
    clearTimeout(this.foldTimer);
    this.foldTimer = undefined;
    if (this.closing) return;
    this.foldWanted = true;
    this.group.join().catch(() => {});
  }

  /**
   * Starts LMDB's transaction of the acknowledged groups, in the background. The log switches
   * to its next generation first, over the file of the one before the current, which must be
   * folded: after a failed fold, the next one retries it without switching.
   */
  private startFold(log: WriteAheadLog<LoggedGroup>): void {
    this.foldWanted = false;
    clearTimeout(this.foldTimer);
    this.foldTimer = undefined;
    let generation = log.generation - 1;
    if (this.folded >= log.generation - 1) {
      generation = log.generation;
      log.nextGeneration();
    }
    const fold = this.fold(generation).finally(() => {
      this.folding = undefined;
    });
    this.folding = fold;
    // Whatever failed stays in the log and in `unfolded`: the next fold takes it again.
    fold.catch(() => {});
  }

  /** One LMDB transaction: every group of the log up to `generation`, in order, the cursors,
   * and the meta record saying those generations are folded. */
  private async fold(generation: number): Promise<void> {
    const taken = this.unfolded.filter((u) => u.generation <= generation);
    this.unfolded = this.unfolded.filter((u) => u.generation > generation);
    const cursors = new Map(this.pendingCursors);
    this.pendingCursors.clear();
    const writes: Promise<unknown>[] = [];
    let head = this.foldedHead;
    let unreported: Buffer | undefined;
    for (const { group } of taken) {
      for (const [seq, value] of group.puts) writes.push(this.entries.put(seq, value));
      for (const seq of group.deletes) writes.push(this.entries.remove(seq));
      head = Math.max(head, group.head);
      if (group.unreported !== undefined) unreported = group.unreported;
    }
    if (unreported !== undefined) writes.push(this.meta.put(UNREPORTED_KEY, unreported));
    for (const [peer, value] of cursors) writes.push(this.cursors.put(peer, value));
    writes.push(this.meta.put("meta", this.metaRecord(head, generation)));
    // Every write settled before the fold counts as failed: none is left in flight to a store
    // that may be closing.
    const failure = (await Promise.allSettled(writes)).find((r) => r.status === "rejected");
    try {
      if (failure !== undefined) throw failure.reason;
      this.folded = generation;
      this.foldedHead = head;
    } catch (error) {
      this.unfolded = [...taken, ...this.unfolded];
      for (const [peer, value] of cursors)
        if (!this.pendingCursors.has(peer)) this.pendingCursors.set(peer, value);
      // The next group retries it, or a lazy one; a closing store leaves it to the next start.
      if (!this.closing) this.group.joinLazily().catch(() => {});
      this.foldWanted = true;
      throw error;
    }
  }

  /**
   * A transaction failed and changed nothing: the records it was to delete are still on disk.
   * Each goes with its key's next write; a key collected meanwhile has none, so its record goes
   * with the next transaction (lazily: a disk that keeps failing is not retried in a loop).
   */
  private failed(group: readonly PendingWrite[]): void {
    let orphans = false;
    for (const { seq, deletes: entry } of group) {
      if (entry === undefined) continue;
      // Still held, the key has a newer record stored or queued: the old one goes with its next
      // write. Collected since, nothing of it is to stay: the old record goes at once.
      if (entry.storedSeq !== 0) {
        const key = entryKey(entry.service, entry.id);
        this.leftBehind.set(key, [...(this.leftBehind.get(key) ?? []), seq]);
      } else {
        this.pending.push({ seq, deletes: entry });
        orphans = true;
      }
    }
    if (orphans) this.group.joinLazily().catch(() => {});
  }

  /** LMDB's own count of the entries tree, kept in the tree's record apart from its pages. */
  private entryCount(): number {
    return (this.entries.getStats() as { entryCount: number }).entryCount;
  }

  private metaRecord(head: number, folded: number): Buffer {
    return seal({ format: STORAGE_FORMAT, nodeId: this.nodeId, epoch: this.epoch, head, folded });
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
    if (![STORAGE_FORMAT, SEQ_FORMAT, KEYED_FORMAT, LEGACY_FORMAT].includes(meta.format)) {
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
    if (meta.folded !== undefined && (!Number.isSafeInteger(meta.folded) || meta.folded < -1))
      throw new DataDirError(`${this.dir} holds a corrupt meta record (folded ${meta.folded})`);
    return meta;
  }

  /**
   * Every record of a format-3 tree, checked, in seq order. A key has two records only when a
   * transaction failed after the key's next write had been queued (`leftBehind`) and the node
   * stopped before writing the key again: the newer is kept, the older deleted here.
   */
  private readBySeq(): Map<string, StoredRecord> {
    const newest = new Map<string, StoredRecord>();
    const superseded: number[] = [];
    this.scanEntries((key, value) => {
      if (typeof key !== "number" || !Number.isSafeInteger(key) || key <= 0)
        throw new DataDirError(`${this.dir} holds an entry under a key that is no seq (${key})`);
      const record = this.checkRecord(
        `at seq ${key}`,
        this.unsealOrRefuse(`entry at seq ${key}`, value),
      );
      if (record.seq !== key)
        throw new DataDirError(
          `${this.dir} holds a corrupt entry at seq ${key} (record of seq ${record.seq})`,
        );
      const entry = entryKey(record.service, record.id);
      const older = newest.get(entry);
      if (older !== undefined) superseded.push(older.seq);
      newest.set(entry, record);
    });
    if (superseded.length > 0)
      this.root.transactionSync(() => {
        for (const seq of superseded) this.entries.removeSync(seq);
      });
    return newest;
  }

  /** Every record of a format-1 or format-2 tree, keyed by service/id, checked. */
  private readKeyed(decode: (key: string, value: Buffer) => unknown): Map<string, StoredRecord> {
    const out = new Map<string, StoredRecord>();
    this.scanEntries((key, value) => {
      const record = this.checkRecord(String(key), decode(String(key), value));
      if (entryKey(record.service, record.id) !== key)
        throw new DataDirError(
          `${this.dir} holds a corrupt entry ${key} (record stored under another key)`,
        );
      out.set(key, record);
    });
    return out;
  }

  private checkRecord(where: string, value: unknown): StoredRecord {
    const record = fromStored(value);
    if (typeof record === "string")
      throw new DataDirError(`${this.dir} holds a corrupt entry ${where} (${record})`);
    return record;
  }

  /**
   * Visits every record of the entries tree. LMDB counts the entries of each tree in the tree's
   * own record, apart from the pages holding them: a corrupted page that hides entries from the
   * scan shows up as a count that does not match, instead of as a smaller, silently wrong replica.
   */
  private scanEntries(visit: (key: number | string, value: Buffer) => void): void {
    let scanned = 0;
    try {
      for (const { key, value } of this.entries.getRange()) {
        visit(key, value);
        scanned++;
      }
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
  }

  /**
   * Rewrites a directory keyed by service/id (format 1 or 2) keyed by seq, in one transaction:
   * every record, the cursors (sealed), and the meta record of the new format.
   */
  private rewriteBySeq(
    meta: Meta,
    records: ReadonlyMap<string, StoredRecord>,
    cursors: ReadonlyMap<string, { epoch: string; cursor: number }>,
  ): void {
    this.epoch = meta.epoch;
    const seqs = new Set<number>();
    for (const record of records.values()) {
      if (seqs.has(record.seq))
        throw new DataDirError(`${this.dir} is corrupt: two entries have seq ${record.seq}`);
      seqs.add(record.seq);
    }
    removeLogFiles(this.dir);
    this.root.transactionSync(() => {
      for (const key of records.keys()) this.entries.removeSync(key);
      for (const record of records.values())
        this.entries.putSync(record.seq, seal(toStored(record)));
      for (const [peer, cursor] of cursors) this.cursors.putSync(peer, seal(cursor));
      this.meta.putSync("meta", this.metaRecord(meta.head, -1));
    });
  }

  /** The state loaded from `records` (by entry key), which the next writes go on from. */
  private restored(
    meta: Meta,
    records: ReadonlyMap<string, StoredRecord>,
    cursors: Map<string, { epoch: string; cursor: number }>,
    unreported: UnreportedExpiry[] = [],
  ): PersistedState {
    for (const [key, record] of records) {
      if (record.seq > meta.head)
        throw new DataDirError(
          `${this.dir} is corrupt: entry ${key} has seq ${record.seq} past the head ${meta.head}`,
        );
    }
    this.epoch = meta.epoch;
    this.folded = meta.folded ?? -1;
    this.foldedHead = meta.head;
    this.writtenHead = meta.head;
    this.log = WriteAheadLog.start(this.dir, this.folded + 1);
    const entries = [...records.values()].sort((a, b) => a.seq - b.seq);
    return { epoch: meta.epoch, head: meta.head, entries, cursors, unreported };
  }

  /** A format-1 directory: every value rewritten sealed and keyed by seq, then loaded. */
  private migrateLegacy(raw: Buffer): PersistedState {
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
    const entries = this.readKeyed(legacy);
    const cursors = new Map<string, { epoch: string; cursor: number }>();
    for (const { key, value } of this.cursors.getRange())
      cursors.set(key, unpackLegacy(value) as { epoch: string; cursor: number });
    this.rewriteBySeq(meta, entries, cursors);
    return this.restored(meta, entries, cursors);
  }
}

/** The meta record's neighbour that lists the expiries owed an `expired` event. */
const UNREPORTED_KEY = "unreported";

/** Records (puts, deletes and the meta record) the groups will write into LMDB. */
function recordsIn(unfolded: readonly { group: LoggedGroup }[]): number {
  let records = 0;
  for (const { group } of unfolded) records += group.puts.length + group.deletes.length + 1;
  return records;
}

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
