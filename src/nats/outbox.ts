/**
 * What a node sends on its connection leaves in one socket write per event-loop turn.
 *
 * nats.js writes its buffer to the socket in a microtask queued by the first message after the
 * last write, so messages produced a few promise hops apart leave in separate writes. A durable
 * node's commit is such a case: the change events of the writes it made durable were published
 * one hop after the commit, their replies two hops later, the announcement in a timer of its own:
 * three `write(2)` calls per transaction (strace of one of 3 durable nodes in `npm run bench --
 * writes`), each waking the server to read. Sent from here, they are published together once the
 * turn's I/O callbacks have run (`setImmediate`: the check phase of the same turn), so nats.js
 * writes them at once. The request pacer's turns run in the check phase themselves: each starts
 * by flushing, so the replies of the one before leave ahead of its work, not behind it.
 *
 * Messages leave in the order they were sent here. A connection closing drains nothing of
 * this: whoever closes flushes first.
 */
export class Outbox {
  #queued: (() => void)[] = [];
  #scheduled = false;

  /** `onError` hears of a message that could not be handed to the connection (closed). */
  constructor(private readonly onError: (error: unknown) => void) {}

  /** Runs `publish` (one or more nats.js publishes) with everything else of this turn. */
  readonly send = (publish: () => void): void => {
    this.#queued.push(publish);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.flush);
  };

  /** Publishes what is queued now, and what that queues in turn (an announcement built at the
   * end of the turn sends itself from here). */
  readonly flush = (): void => {
    this.#scheduled = false;
    while (this.#queued.length > 0) {
      const queued = this.#queued;
      this.#queued = [];
      for (const publish of queued) {
        try {
          publish();
        } catch (error) {
          this.onError(error);
        }
      }
    }
  };
}
