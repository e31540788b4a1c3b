import type { Logger } from "pino";
import type { EntryRecord } from "../core/mod.js";
import { fullJitterDelay } from "./backoff.js";
import type { Bootstrap } from "./bootstrap.js";
import type { MessageCodec } from "./codec.js";
import { fromTuples, type HeldEntry } from "./entry-codec.js";
import {
  checkEcho,
  InvalidMessageError,
  newNonce,
  PROTOCOL_VERSION,
  type PullReply,
  PullReplySchema,
  type PullRequest,
  parseMessage,
} from "./messages.js";
import type { PeerState } from "./peer.js";
import { rejectionReason, type SyncMetrics } from "./sync-metrics.js";
import type { SyncTimers, TimerHandle } from "./timers.js";
import type { SyncTransport } from "./transport.js";

export interface PullClientOptions {
  transport: SyncTransport;
  /** The replica's entries: a stored body a peer repeats is not checked again. */
  held?: HeldEntry;
  /** The pull subject of a peer. */
  subject: (peer: string) => string;
  nodeId: string;
  codec: MessageCodec;
  timers: SyncTimers;
  metrics: SyncMetrics;
  log: Logger;
  bootstrap: Bootstrap;
  pullTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  suspectAfterFailures: number;
  batchMaxEntries: number;
  maxBatchBytes: () => number;
  accepts: readonly string[];
  /** The stamp a request carries (our hybrid logical clock), judged by the server's window. */
  stamp: () => number;
  /** Merges a page and makes it durable. */
  apply: (records: readonly EntryRecord[]) => Promise<unknown>;
  /** One differential reconciliation with the peer; true when it completed. */
  reconcile: (peer: PeerState) => Promise<boolean>;
  /** Our cursor into the peer moved: persist it. */
  saveCursor: (peer: PeerState) => void;
  /** A bootstrap ended (the peer failed): the loops it held back may run now. */
  onBootstrapEnded: () => void;
}

type PullOutcome = "ok" | "reset" | "failed";

/** A pull in flight: the reply must echo its nonce and `since`. */
interface PageRequest {
  since: number;
  nonce: string;
  page: Promise<Uint8Array>;
}

/**
 * Pulls from each peer until we hold everything it announced (DESIGN.md §4.2): one loop per
 * peer, reconciling first when our cursor is void, asking for the next page while merging the
 * current one, backing off with full jitter on failure and marking the peer suspect after
 * `suspectAfterFailures` failures in a row.
 */
export class PullClient {
  readonly #prefetched = new Map<string, PageRequest>();
  /** Backoff sleeps in progress; stopping wakes them so no loop outlives the engine. */
  readonly #sleepers = new Map<TimerHandle, () => void>();
  #stopped = false;
  /** Rejects on stop: a loop waiting for a page ends at once instead of at the pull timeout. */
  readonly #stopping: Promise<never>;
  #stop: (reason: Error) => void = () => {};

  constructor(private readonly o: PullClientOptions) {
    this.#stopping = new Promise<never>((_, reject) => {
      this.#stop = reject;
    });
    this.#stopping.catch(() => {});
  }

  stop(): void {
    this.#stopped = true;
    this.#stop(new Error("sync stopped"));
    for (const [timer, wake] of this.#sleepers) {
      this.o.timers.clearTimeout(timer);
      wake();
    }
    this.#sleepers.clear();
  }

  /** Runs the peer's loop unless one runs already; resolves when it ends. */
  async sync(peer: PeerState): Promise<void> {
    if (this.#stopped || !peer.beginPulling()) return;
    try {
      await this.loop(peer);
    } finally {
      peer.endPulling();
    }
  }

  private async loop(peer: PeerState): Promise<void> {
    const o = this.o;
    while (!this.#stopped && peer.needsSync && peer.pullable) {
      if (peer.reconcilePending) {
        if (o.bootstrap.blocks(peer.id)) return; // the bootstrap's end restarts this loop
        if (await o.reconcile(peer)) continue;
      } else {
        const outcome = await this.pullOnce(peer);
        if (outcome === "reset") continue;
        if (outcome === "ok") {
          if (o.bootstrap.onPage(peer)) o.onBootstrapEnded();
          continue;
        }
      }
      if (this.#stopped) return;
      if (peer.onPullFailure(o.timers.now(), o.suspectAfterFailures)) {
        o.log.warn(
          { peer: peer.id, failures: peer.failures },
          "peer marked suspect; skipping it until it announces or a probe succeeds",
        );
        if (o.bootstrap.onPeerFailed(peer)) o.onBootstrapEnded();
        return;
      }
      await this.sleep(
        fullJitterDelay(peer.failures, o.retryBaseMs, o.retryMaxMs, o.timers.random),
      );
    }
  }

  /**
   * One page of the peer's change log. Normally only the peer's own writes: every node hears
   * each writer directly, so relaying third parties' writes would send each change N times;
   * whatever a relay would have repaired, the digest comparison and reconciliation repair.
   * A bootstrap takes everything, our own old writes included, since we lost them.
   */
  private async pullOnce(peer: PeerState): Promise<PullOutcome> {
    const o = this.o;
    const started = performance.now();
    let reply: PullReply;
    try {
      const request = this.takePage(peer, peer.cursor);
      const data = await Promise.race([request.page, this.#stopping]);
      o.metrics.pullWaited(performance.now() - started);
      reply = parseMessage(PullReplySchema, o.codec.decode(data));
      if (reply.type !== "error") checkEcho(reply, request.nonce, request.since);
    } catch (error) {
      if (this.#stopped) return "failed";
      if (rejectionReason(error) !== "internal") this.reject(error);
      else o.log.debug({ peer: peer.id, err: error }, "pull failed");
      o.metrics.pulled("failed");
      return "failed";
    }
    if (reply.node !== peer.id) {
      this.reject(new InvalidMessageError(`reply from ${reply.node}, expected ${peer.id}`));
      o.metrics.pulled("failed");
      return "failed";
    }
    // Ask for the next page while this one is applied: the peer encodes as we merge, which
    // roughly halves the time of a long catch-up or a bootstrap.
    if (reply.type === "batch" && !reply.complete && reply.epoch === peer.epoch) {
      this.#prefetched.set(peer.id, this.requestPage(peer, reply.cursor));
      // nats.js sends what it buffered in a microtask; merging this page runs synchronously,
      // so without yielding here the request would leave only after the merge, and the peer
      // would encode while we wait instead of while we merge.
      await Promise.resolve();
    }
    if (reply.type === "error") {
      o.log.warn({ peer: peer.id, reason: reply.message }, "peer refused our pull");
      o.metrics.pulled("failed");
      return "failed";
    }
    if (reply.type === "reset") {
      o.log.info({ peer: peer.id, epoch: reply.epoch }, "peer has a new history");
      peer.reset(reply.epoch, reply.head);
      o.bootstrap.onNewHistory(peer);
      o.metrics.pulled("reset");
      return "reset";
    }
    let records: EntryRecord[];
    try {
      records = fromTuples(reply.entries, o.held);
    } catch (error) {
      this.reject(error);
      o.metrics.pulled("failed");
      return "failed";
    }
    await o.apply(records);
    const latencyMs = performance.now() - started;
    o.metrics.pulled("ok", latencyMs);
    if (reply.epoch === peer.epoch) {
      peer.onPullSuccess(reply.cursor, reply.head, o.timers.now(), latencyMs);
      o.saveCursor(peer);
    }
    return "ok";
  }

  /** The page starting at `since`: the one prefetched if it matches, else a new request. */
  private takePage(peer: PeerState, since: number): PageRequest {
    const prefetched = this.#prefetched.get(peer.id);
    this.#prefetched.delete(peer.id);
    if (prefetched !== undefined && prefetched.since === since) return prefetched;
    return this.requestPage(peer, since);
  }

  private requestPage(peer: PeerState, since: number): PageRequest {
    const o = this.o;
    const nonce = newNonce();
    const request: PullRequest = {
      type: "pull",
      v: PROTOCOL_VERSION,
      node: o.nodeId,
      epoch: peer.epoch,
      since,
      maxEntries: o.batchMaxEntries,
      maxBytes: o.maxBatchBytes(),
      originOnly: o.bootstrap.peer !== peer.id,
      accepts: [...o.accepts],
      nonce,
      at: o.stamp(),
    };
    const page = o.transport.request(o.subject(peer.id), o.codec.encode(request, false), {
      timeoutMs: o.pullTimeoutMs,
    });
    // A prefetch nobody takes (the loop stopped, the epoch changed) must not be an unhandled rejection.
    page.catch(() => {});
    return { since, nonce, page };
  }

  private reject(error: unknown): void {
    const reason = rejectionReason(error);
    this.o.metrics.rejected(reason);
    this.o.log.warn({ what: "batch", reason, err: error }, "rejected sync message");
  }

  private sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.o.timers.setTimeout(() => {
        this.#sleepers.delete(timer);
        resolve();
      }, ms);
      this.#sleepers.set(timer, resolve);
    });
  }
}
