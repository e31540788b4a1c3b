/**
 * Watches how many entries each registry node holds while a load runs, by asking the fleet's
 * `heads` question (docs/protocol.md) back to back: every node answers with its head (count,
 * digest). The k-th acknowledged write counts as propagated once every node holds k entries;
 * the figure is an upper bound, off by at most one question's round trip plus the interval.
 */
import { createInbox, type NatsConnection, type Subscription } from "nats";
import { packHlc } from "../../src/core/mod.js";
import { newNonce, PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { decodeEnvelope, encodeEnvelope } from "../../src/wire/envelope.js";

/** A question unanswered by some node for this long is asked again. */
const QUESTION_TIMEOUT_MS = 200;
/** Questions are at least this far apart, so answering them stays a small part of the nodes'
 * CPU (each node answers at most 500 a second); it is also the figure's resolution. */
const QUESTION_INTERVAL_MS = 2;
const MAX_BODY_BYTES = 1 << 20;

export interface Head {
  count: number;
  digest: string;
}

export class HeadsProbe {
  /** Per node: the first time (performance.now()) it was seen to hold each new count. */
  readonly seen = new Map<string, { at: number; count: number }[]>();
  readonly latest = new Map<string, Head>();
  #running = false;
  #loop: Promise<void> | undefined;
  #answered: (() => void) | undefined;
  #answers = 0;
  /** Questions asked so far. */
  questions = 0;
  readonly #sub: Subscription;
  readonly #inbox: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly nodes: number,
  ) {
    this.#inbox = createInbox();
    this.#sub = nc.subscribe(this.#inbox, {
      callback: (error, msg) => {
        if (error) return;
        const at = performance.now();
        const head = decodeEnvelope(msg.data, { maxBodyBytes: MAX_BODY_BYTES }).message as {
          node: string;
          count: number;
          digest: string;
        };
        this.latest.set(head.node, { count: head.count, digest: head.digest });
        let history = this.seen.get(head.node);
        if (history === undefined) {
          history = [];
          this.seen.set(head.node, history);
        }
        if (history.length === 0 || history[history.length - 1]!.count < head.count)
          history.push({ at, count: head.count });
        if (++this.#answers >= this.nodes) this.#answered?.();
      },
    });
  }

  /** Asks once and waits for every node's answer (or the timeout). */
  async ask(): Promise<void> {
    this.#answers = 0;
    const answered = new Promise<void>((resolve) => {
      this.#answered = resolve;
      setTimeout(resolve, QUESTION_TIMEOUT_MS);
    });
    const question = encodeEnvelope(
      {
        type: "heads",
        v: PROTOCOL_VERSION,
        node: "bench-probe",
        nonce: newNonce(),
        at: packHlc(Date.now(), 0),
      },
      { compress: false, compressionThreshold: Number.MAX_SAFE_INTEGER },
    );
    this.nc.publish(this.subject, question.bytes, { reply: this.#inbox });
    this.questions++;
    await answered;
  }

  start(): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const asked = performance.now();
        await this.ask();
        const wait = QUESTION_INTERVAL_MS - (performance.now() - asked);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  close(): void {
    this.#sub.unsubscribe();
  }

  /** When every node first held at least `count` entries; undefined if some never did. */
  everywhereAt(count: number): number | undefined {
    if (this.seen.size < this.nodes) return undefined;
    let last = 0;
    for (const history of this.seen.values()) {
      const reached = firstAtLeast(history, count);
      if (reached === undefined) return undefined;
      last = Math.max(last, reached);
    }
    return last;
  }

  /** Whether every node answered with the same digest at the last question. */
  converged(): boolean {
    const digests = new Set([...this.latest.values()].map((h) => h.digest));
    return this.latest.size === this.nodes && digests.size === 1;
  }
}

function firstAtLeast(history: readonly { at: number; count: number }[], count: number) {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (history[mid]!.count >= count) hi = mid;
    else lo = mid + 1;
  }
  return history[lo]?.at;
}
