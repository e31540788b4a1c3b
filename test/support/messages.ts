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
  private received = 0;
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
      to.subscribe(subject, { callback: () => probe.received++ }),
    );
    await to.flush();
    return probe;
  }

  /**
   * Resolves once a message published now reaches the subscriber. Publishes again at every
   * poll: interest crosses NATS routes asynchronously, and a route may still be reconnecting.
   */
  async crosses(timeoutMs = 10_000): Promise<void> {
    const before = this.received;
    await waitFor(
      async () => {
        this.from.publish(this.subject, String(this.seq++));
        await this.from.flush();
        return this.received > before;
      },
      { timeoutMs, intervalMs: 50, message: `a message on ${this.subject} crossing` },
    );
  }

  /** True when none of the messages published over `SILENCE_MS` reaches the subscriber. */
  async isLost(): Promise<boolean> {
    const before = this.received;
    for (let i = 0; i < SILENCE_PROBES; i++) {
      this.from.publish(this.subject, String(this.seq++));
      await sleep(SILENCE_MS / SILENCE_PROBES);
    }
    await this.from.flush();
    await sleep(SILENCE_MS / SILENCE_PROBES);
    return this.received === before;
  }

  close(): void {
    this.sub.unsubscribe();
  }
}
