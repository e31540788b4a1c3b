import type { Entry, EntryRecord } from "../core/mod.js";

/** What a durable node keeps across restarts: its history (epoch, seq) and every entry. */
export interface PersistedState {
  epoch: string;
  /** The newest seq ever issued; restored so no seq is reused after entries were collected. */
  head: number;
  entries: (EntryRecord & { seq: number })[];
  /** Cursors into peers' histories, so a restart pulls only what changed meanwhile. */
  cursors: Map<string, { epoch: string; cursor: number }>;
  /** Expiries this node wrote the tombstone of and has not reported yet (docs/watch.md). */
  unreported: UnreportedExpiry[];
}

/** An `expired` event owed: the tombstone (service, id, hlc) this node wrote, and the instance
 * that lapsed, as the event shows it. */
export interface UnreportedExpiry {
  service: string;
  id: string;
  hlc: number;
  instance: string;
}

/** What a durable store has done since it opened, for the node's metrics. */
export interface StorageStats {
  /** Transactions written. */
  transactions: number;
  /** Entry records they wrote or deleted. */
  records: number;
  /** Transactions held back to space them out while the machine was short of CPU. */
  spaced: number;
}

/**
 * Where a node's replica lives between restarts. `commit` resolves only once the entries are
 * durable: the client API acknowledges a write after it, so nothing acknowledged is lost.
 */
export interface ReplicaStorage {
  /** The saved state, or undefined for a new data directory. */
  load(): PersistedState | undefined;
  /** Starts a new history (a new data directory, or memory mode). */
  initialise(epoch: string): Promise<void>;
  commit(entries: readonly Entry[], head: number): Promise<void>;
  /** Forgets collected entries; not awaited by anyone, collection is idempotent. */
  remove(entries: readonly Entry[]): Promise<void>;
  /** Resolves once written; a failure only leaves an older cursor for the next start. */
  saveCursor(peer: string, epoch: string, cursor: number): Promise<void>;
  /** Replaces the saved list of unreported expiries; resolves once durable. */
  saveUnreported(unreported: readonly UnreportedExpiry[]): Promise<void>;
  close(): Promise<void>;
  /** What it has written so far; absent where nothing is written. */
  stats?(): StorageStats;
}

/** `--memory`: nothing is kept; a restart is a new node with a new epoch. */
export class MemoryStorage implements ReplicaStorage {
  load(): undefined {
    return undefined;
  }
  async initialise(): Promise<void> {}
  async commit(): Promise<void> {}
  async remove(): Promise<void> {}
  async saveCursor(): Promise<void> {}
  async saveUnreported(): Promise<void> {}
  async close(): Promise<void> {}
}
