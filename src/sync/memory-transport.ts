import { NamedError } from "../core/named-error.js";
import type { SyncTimers } from "./timers.js";
import type {
  RequestOptions,
  SyncTransport,
  TransportMessage,
  TransportSubscription,
} from "./transport.js";

/** How the in-memory network misbehaves; every choice is drawn from the timers' seeded random. */
export interface MemoryNetworkOptions {
  timers: SyncTimers;
  /** Delivery delay, uniform in [min, max] ms per message: different delays reorder. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Chance that a message (publish, request or reply) is lost. */
  dropRate?: number;
  /** Chance that a published message arrives twice. */
  duplicateRate?: number;
  /** The largest message carried, like nats-server's max_payload. */
  maxPayload?: number;
}

/** The error a request fails with on timeout, as nats.js reports it. */
export class MemoryRequestError extends NamedError {
  constructor(
    readonly code: "TIMEOUT" | "503" | "CLOSED" | "MAX_PAYLOAD_EXCEEDED",
    message: string,
  ) {
    super(message);
  }
}

interface Subscriber {
  endpoint: MemoryTransport;
  subject: string;
  handler: (msg: TransportMessage) => void;
  active: boolean;
}

/**
 * An in-memory stand-in for a NATS server that connects endpoints by exact subject, for
 * deterministic simulations of a fleet: it delays, drops, duplicates and reorders messages,
 * partitions endpoints from each other, and slows or silences single endpoints. Requests that
 * get no reply time out on the timers' virtual clock, as they would on NATS.
 */
export class MemoryNetwork {
  readonly timers: SyncTimers;
  private readonly subscribers = new Map<string, Subscriber[]>();
  private readonly minDelayMs: number;
  private readonly maxDelayMs: number;
  dropRate: number;
  duplicateRate: number;
  maxPayload: number;
  /** Endpoint name → partition group; endpoints in different groups do not hear each other. */
  private groups = new Map<string, number>();
  private inboxes = 0;
  /** Messages delivered, dropped and duplicated: the simulation checks it exercised each. */
  readonly counts = { delivered: 0, dropped: 0, duplicated: 0, timedOut: 0 };

  constructor(options: MemoryNetworkOptions) {
    this.timers = options.timers;
    this.minDelayMs = options.minDelayMs ?? 0;
    this.maxDelayMs = options.maxDelayMs ?? 5;
    this.dropRate = options.dropRate ?? 0;
    this.duplicateRate = options.duplicateRate ?? 0;
    this.maxPayload = options.maxPayload ?? 1 << 20;
  }

  /** A new endpoint (one node's connection) named `name`. */
  connect(name: string): MemoryTransport {
    return new MemoryTransport(this, name);
  }

  /** Splits the endpoints into groups that hear only each other; unnamed ones join group 0. */
  partition(groups: readonly (readonly string[])[]): void {
    this.groups = new Map();
    groups.forEach((names, i) => {
      for (const name of names) this.groups.set(name, i);
    });
  }

  heal(): void {
    this.groups = new Map();
  }

  /** @internal */
  reachable(a: string, b: string): boolean {
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0);
  }

  /** @internal */
  add(sub: Subscriber): void {
    const list = this.subscribers.get(sub.subject) ?? [];
    list.push(sub);
    this.subscribers.set(sub.subject, list);
  }

  /** @internal */
  remove(sub: Subscriber): void {
    sub.active = false;
    const list = this.subscribers.get(sub.subject);
    if (list === undefined) return;
    const rest = list.filter((s) => s !== sub);
    if (rest.length === 0) this.subscribers.delete(sub.subject);
    else this.subscribers.set(sub.subject, rest);
  }

  /** @internal */
  inbox(): string {
    return `_INBOX.memory.${++this.inboxes}`;
  }

  /** @internal Sends `data` from `from` to every reachable subscriber of `subject`. */
  send(from: MemoryTransport, subject: string, data: Uint8Array, reply?: string): number {
    if (data.length > this.maxPayload) {
      throw new MemoryRequestError(
        "MAX_PAYLOAD_EXCEEDED",
        `message of ${data.length} bytes exceeds max_payload ${this.maxPayload}`,
      );
    }
    // Interest is known across a partition (the servers' routes are up, the link is lossy),
    // so a request into a partition times out rather than failing fast.
    // A dead endpoint (a frozen process) still holds its subscriptions: requests to it time out.
    const targets = this.subscribers.get(subject) ?? [];
    for (const target of targets) {
      if (!this.reachable(from.name, target.endpoint.name)) continue;
      const random = this.timers.random;
      if (random() < this.dropRate) {
        this.counts.dropped++;
        continue;
      }
      const copies = reply === undefined && random() < this.duplicateRate ? 2 : 1;
      if (copies === 2) this.counts.duplicated++;
      for (let i = 0; i < copies; i++) this.deliver(from, target, data, reply);
    }
    return targets.length;
  }

  private deliver(from: MemoryTransport, target: Subscriber, data: Uint8Array, reply?: string) {
    const span = this.maxDelayMs - this.minDelayMs;
    const delay =
      this.minDelayMs +
      Math.floor(this.timers.random() * (span + 1)) +
      from.extraDelayMs +
      target.endpoint.extraDelayMs;
    const copy = data.slice();
    this.timers.setTimeout(() => {
      if (!target.active || !target.endpoint.alive) return;
      if (!this.reachable(from.name, target.endpoint.name)) return;
      this.counts.delivered++;
      const endpoint = target.endpoint;
      target.handler({
        data: copy,
        reply,
        respond: (answer) => {
          if (reply !== undefined && endpoint.alive) this.send(endpoint, reply, answer);
        },
      });
    }, delay);
  }
}

/** One endpoint of a MemoryNetwork: the SyncTransport a simulated node is given. */
export class MemoryTransport implements SyncTransport {
  private closed = false;
  /** False while the endpoint is "dead": it neither sends nor receives, nor is closed. */
  alive = true;
  /** Added to every delivery to or from this endpoint: a slow peer. */
  extraDelayMs = 0;
  private readonly subscriptions = new Set<Subscriber>();

  constructor(
    private readonly network: MemoryNetwork,
    readonly name: string,
  ) {}

  publish(subject: string, data: Uint8Array): void {
    if (this.closed) throw new MemoryRequestError("CLOSED", "connection closed");
    if (!this.alive) return;
    this.network.send(this, subject, data);
  }

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new MemoryRequestError("CLOSED", "connection closed"));
    const timers = this.network.timers;
    return new Promise((resolve, reject) => {
      const inbox = this.network.inbox();
      let sub: TransportSubscription | undefined;
      const timer = timers.setTimeout(() => {
        sub?.unsubscribe();
        this.network.counts.timedOut++;
        reject(new MemoryRequestError("TIMEOUT", `request to ${subject} timed out`));
      }, options.timeoutMs);
      sub = this.subscribe(inbox, (msg) => {
        sub?.unsubscribe();
        timers.clearTimeout(timer);
        resolve(msg.data);
      });
      try {
        const heard = this.alive ? this.network.send(this, subject, data, inbox) : 1;
        if (heard === 0) {
          // NATS answers "no responders" at once when no reachable server knows of interest.
          sub.unsubscribe();
          timers.clearTimeout(timer);
          reject(new MemoryRequestError("503", `no responders on ${subject}`));
        }
      } catch (error) {
        sub.unsubscribe();
        timers.clearTimeout(timer);
        reject(error);
      }
    });
  }

  subscribe(subject: string, handler: (msg: TransportMessage) => void): TransportSubscription {
    const sub: Subscriber = { endpoint: this, subject, handler, active: true };
    this.network.add(sub);
    this.subscriptions.add(sub);
    return {
      unsubscribe: () => {
        this.subscriptions.delete(sub);
        this.network.remove(sub);
      },
    };
  }

  maxPayload(): number {
    return this.network.maxPayload;
  }

  isClosed(): boolean {
    return this.closed;
  }

  /** Closes the connection: its subscriptions go, so requests to it fail with no responders. */
  close(): void {
    this.closed = true;
    this.alive = false;
    for (const sub of this.subscriptions) this.network.remove(sub);
    this.subscriptions.clear();
  }
}
