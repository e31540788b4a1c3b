/**
 * The seam between the sync engine and the network: the four things sync needs from NATS.
 * `NatsSyncTransport` is the real one; `MemoryTransport` (memory-transport.ts) is its in-memory
 * twin for deterministic tests, which delays, drops, duplicates and reorders from a seed.
 */

/** A message received on a subscription; `respond` answers a request. */
export interface TransportMessage {
  readonly data: Uint8Array;
  /** Set when the sender waits for an answer. */
  readonly reply?: string;
  respond(data: Uint8Array): void;
}

export interface TransportSubscription {
  unsubscribe(): void;
}

export interface RequestOptions {
  timeoutMs: number;
}

export interface GatherOptions {
  stallMs: number;
  maxWaitMs: number;
}

export interface SyncTransport {
  /** Fire and forget; throws only when the transport is closed. */
  publish(subject: string, data: Uint8Array): void;
  /** One request, one reply; rejects on timeout or when nobody listens. */
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Uint8Array>;
  subscribe(subject: string, handler: (msg: TransportMessage) => void): TransportSubscription;
  /**
   * One request, every reply: gathers answers until none came for `stallMs` (or `maxWaitMs`
   * passed); resolves with none when nobody listens. Optional: a transport without it makes
   * a starting node rely on announcements alone.
   */
  requestAll?(subject: string, data: Uint8Array, options: GatherOptions): Promise<Uint8Array[]>;
  /** The largest message the transport carries, in bytes (NATS's max_payload). */
  maxPayload(): number;
  isClosed(): boolean;
}

/** What a server reports when it has not said: the nats-server default. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;
