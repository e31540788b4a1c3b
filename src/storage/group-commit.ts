/**
 * Group commit: writes queued while a transaction is on its way to disk go out together as the
 * next one, so a node writes one transaction (one fsync) per disk round trip however many
 * client writes, peer announcements and cursor saves arrive meanwhile. Every joiner's promise
 * resolves once a group written after it joined is durable, or rejects with that group's error.
 *
 * A lazy joiner (a cursor save, which only spares a re-pull after a restart) starts no group of
 * its own: it rides with the next one, or with the one `lazyDelayMs` later at the latest.
 *
 * `spacingMs` may hold a transaction back until that long after the previous one started:
 * fewer, fuller transactions cost less CPU per write, which pays only when CPU is short
 * (lmdb-storage.ts asks for it then, and for none otherwise).
 */
export class GroupCommit {
  /** The group being gathered, settled once it is written; undefined while nobody waits. */
  #next: Deferred | undefined;
  /** Whether a joiner of `#next` is in a hurry (not only lazy ones). */
  #eager = false;
  #writing: Promise<void> | undefined;
  #scheduled = false;
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the last transaction started (performance.now()). */
  #startedAt = Number.NEGATIVE_INFINITY;
  #spaced = 0;

  /** `writeGroup` queues everything pending in one synchronous go (one LMDB transaction) and
   * resolves once that transaction is durable. */
  constructor(
    private readonly writeGroup: () => Promise<unknown>,
    private readonly lazyDelayMs: number,
    private readonly spacingMs: () => number = () => 0,
  ) {}

  /** Transactions `spacingMs` held back so far. */
  get spaced(): number {
    return this.#spaced;
  }

  /** Resolves once what was queued before this call is durable. */
  join(): Promise<void> {
    const joined = this.gathering();
    this.#eager = true;
    this.schedule();
    return joined;
  }

  /** Like `join`, without hurrying: the write waits for the next group, at most `lazyDelayMs`. */
  joinLazily(): Promise<void> {
    const joined = this.gathering();
    if (this.#lazyTimer === undefined) {
      this.#lazyTimer = setTimeout(() => {
        this.#lazyTimer = undefined;
        this.schedule();
      }, this.lazyDelayMs);
      this.#lazyTimer.unref?.();
    }
    return joined;
  }

  /** Writes whatever is queued now and resolves once every group is durable (closing). */
  async drain(): Promise<void> {
    for (;;) {
      // Settles, never rejects: the group's joiners hear of its error.
      if (this.#writing !== undefined) await this.#writing;
      else if (this.#next !== undefined) this.write();
      else return;
    }
  }

  /** Every joiner of one group shares its promise: one per transaction, not one per write. */
  private gathering(): Promise<void> {
    this.#next ??= deferred();
    return this.#next.promise;
  }

  private schedule(): void {
    if (this.#scheduled || this.#writing !== undefined) return;
    this.#scheduled = true;
    const write = () => {
      if (this.#scheduled) this.write();
    };
    const wait = this.#startedAt + this.spacingMs() - performance.now();
    // A microtask: every write queued by the current event-loop turn joins this group.
    if (wait <= 0) queueMicrotask(write);
    else {
      this.#spaced++;
      setTimeout(write, wait);
    }
  }

  private write(): void {
    this.#scheduled = false;
    if (this.#lazyTimer !== undefined) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    const group = this.#next!;
    this.#next = undefined;
    this.#eager = false;
    this.#startedAt = performance.now();
    let written: Promise<unknown>;
    try {
      written = this.writeGroup();
    } catch (error) {
      written = Promise.reject(error);
    }
    this.#writing = written.then(
      () => group.resolve(),
      (error: unknown) => group.reject(error),
    );
    void this.#writing.finally(() => {
      this.#writing = undefined;
      // Lazy joiners alone wait for their timer, unless it fired while this group was written.
      if (this.#next !== undefined && (this.#eager || this.#lazyTimer === undefined))
        this.schedule();
    });
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
