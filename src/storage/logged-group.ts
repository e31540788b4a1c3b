import { type EntryRecord, entryKey } from "../core/mod.js";

/** An entry's record as LMDB keeps it, keyed by its seq. */
export type StoredRecord = EntryRecord & { seq: number };

/** One group as the write-ahead log holds it: what a transaction held before the log. */
export interface LoggedGroup {
  /** Records written: [seq, sealed record]. */
  puts: [number, Buffer][];
  /** Seqs whose records are deleted. */
  deletes: number[];
  head: number;
  /** The sealed list of unreported expiries, when this group replaced it. */
  unreported?: Buffer;
}

/** A logged group as the log hands it back, checked field by field; undefined otherwise. */
export function checkLoggedGroup(value: unknown): LoggedGroup | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const { puts, deletes, head, unreported } = value as Partial<LoggedGroup>;
  const isSeq = (seq: unknown) => Number.isSafeInteger(seq) && (seq as number) > 0;
  if (!Array.isArray(puts) || !Array.isArray(deletes)) return undefined;
  for (const put of puts as unknown[])
    if (!Array.isArray(put) || !isSeq(put[0]) || !(put[1] instanceof Uint8Array)) return undefined;
  if (!deletes.every(isSeq)) return undefined;
  if (!Number.isSafeInteger(head) || (head as number) < 0) return undefined;
  if (unreported !== undefined && !(unreported instanceof Uint8Array)) return undefined;
  return value as LoggedGroup;
}

/**
 * Logged groups applied, oldest first, onto the records LMDB holds (by key), with the rules
 * LMDB's side keeps: a key has one record, the newest seq's; a delete removes the record at its
 * seq. `records` is updated in place; what LMDB must do to match it accumulates in `puts` and
 * `deletes`, to be written in one transaction. Pure: the caller reads the log and writes LMDB.
 */
export class LogReplay {
  /** Sealed records to write, by seq. */
  readonly puts = new Map<number, Buffer>();
  /** Seqs whose records must go. */
  readonly deletes = new Set<number>();
  /** The newest sealed list of unreported expiries the groups carried. */
  unreported: Buffer | undefined;
  #head: number;
  readonly #keyAt = new Map<number, string>();

  /**
   * `decode` opens a logged record, refusing (throwing) one that does not check out or whose
   * seq is not the one it was logged at.
   */
  constructor(
    private readonly records: Map<string, StoredRecord>,
    head: number,
    private readonly decode: (seq: number, sealed: Buffer) => StoredRecord,
  ) {
    this.#head = head;
    for (const [key, record] of records) this.#keyAt.set(record.seq, key);
  }

  /** The highest seq issued, LMDB's or a group's. */
  get head(): number {
    return this.#head;
  }

  apply(group: LoggedGroup): void {
    for (const [seq, sealed] of group.puts) this.put(seq, sealed);
    for (const seq of group.deletes) this.delete(seq);
    this.#head = Math.max(this.#head, group.head);
    if (group.unreported !== undefined) this.unreported = group.unreported;
  }

  private put(seq: number, sealed: Buffer): void {
    const record = this.decode(seq, sealed);
    const key = entryKey(record.service, record.id);
    const older = this.records.get(key);
    if (older !== undefined && older.seq > seq) {
      // A newer record of the key is held already: this one is history.
      this.deletes.add(seq);
      return;
    }
    if (older !== undefined && older.seq !== seq) {
      this.deletes.add(older.seq);
      this.puts.delete(older.seq);
      this.#keyAt.delete(older.seq);
    }
    this.records.set(key, record);
    this.#keyAt.set(seq, key);
    this.puts.set(seq, sealed);
    this.deletes.delete(seq);
  }

  private delete(seq: number): void {
    const key = this.#keyAt.get(seq);
    if (key !== undefined && this.records.get(key)?.seq === seq) this.records.delete(key);
    this.#keyAt.delete(seq);
    this.puts.delete(seq);
    this.deletes.add(seq);
  }
}
