import type { NatsConnection, Subscription } from "nats";
import { sleep, waitFor } from "./wait.js";

/** How long a probe watches for a message that must not arrive. */
export const SILENCE_MS = 750;
/** Messages a probe publishes while watching for silence. */
const SILENCE_PROBES = 5;

/**
 * A subscriber on one connection and a publisher on another, to test whether messages cross
 * between two servers. Keep one probe across a cut: its subscription was known on both sides
 * before, so a lost message means the link is down, not that interest had yet to spread.
 */
export class MessageProbe {
  /** The highest sequence number received: a message that crossed late (published by an
   * earlier check, delivered after it returned) never counts for a later one. */
  private highest = -1;
  private seq = 0;

  private constructor(
    private readonly from: NatsConnection,
    private readonly subject: string,
    private readonly sub: Subscription,
  ) {}

  static async open(from: NatsConnection, to: NatsConnection, subject: string) {
    const probe: MessageProbe = new MessageProbe(
      from,
      subject,
      to.subscribe(subject, {
        callback: (_error, msg) => {
          probe.highest = Math.max(probe.highest, Number(msg.string()));
        },
      }),
    );
    await to.flush();
    return probe;
  }

  /**
   * Resolves once a message published now reaches the subscriber. Publishes again at every
   * poll: interest crosses NATS routes asynchronously, and a route may still be reconnecting.
   */
  async crosses(timeoutMs = 10_000): Promise<void> {
    const first = this.seq;
    await waitFor(
      async () => {
        this.from.publish(this.subject, String(this.seq++));
        await this.from.flush();
        return this.highest >= first;
      },
      { timeoutMs, intervalMs: 50, message: `a message on ${this.subject} crossing` },
    );
  }

  /** True when none of the messages published over `SILENCE_MS` reaches the subscriber; one
   * that an earlier `crosses` published and that arrives only now does not count. */
  async isLost(): Promise<boolean> {
    const first = this.seq;
    for (let i = 0; i < SILENCE_PROBES; i++) {
      this.from.publish(this.subject, String(this.seq++));
      await sleep(SILENCE_MS / SILENCE_PROBES);
    }
    await this.from.flush();
    await sleep(SILENCE_MS / SILENCE_PROBES);
    return this.highest < first;
  }

  close(): void {
    this.sub.unsubscribe();
  }
}
