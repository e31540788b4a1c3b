import type { Msg, NatsConnection, Subscription } from "nats";
import type { Logger } from "pino";
import type { Entry, EntryRecord, MergeResult, RegistryStore } from "../core/mod.js";
import type { NodeMetrics } from "../node/metrics.js";
import { syncSubjects } from "../subjects.js";
import { fullJitterDelay, periodicInterval } from "./backoff.js";
import { type BootstrapProgress, bootstrapProgress, fractionDone } from "./bootstrap-progress.js";
import type { SyncCodec } from "./codec.js";
import { fromTuples, InvalidEntryError, toTuple } from "./entry-codec.js";
import {
  type Announce,
  AnnounceSchema,
  errorReply,
  InvalidMessageError,
  PROTOCOL_VERSION,
  type PullReply,
  PullReplySchema,
  type PullRequest,
  PullRequestSchema,
  parseMessage,
} from "./messages.js";
import { PeerState } from "./peer.js";
import { type ExchangeDeps, reconcileWith, serveExchange } from "./reconcile-exchange.js";

export interface SyncSettings {
  subjectPrefix: string;
  syncIntervalMs: number;
  announceDelayMs: number;
  inlineChangesMaxBytes: number;
  pullTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  suspectAfterFailures: number;
  suspectProbeMs: number;
  batchMaxEntries: number;
  batchMaxBytes: number;
  compression: "deflate" | "none";
}

/** Called with entries applied from peers, before cursors advance: the node persists them. */
export type AppliedSink = (entries: readonly Entry[]) => Promise<void> | void;

/** Peers' cursors kept across restarts, so a durable node resumes pulling where it stopped. */
export interface CursorStore {
  initial: ReadonlyMap<string, { epoch: string; cursor: number }>;
  save: (peer: string, epoch: string, cursor: number) => void;
}

/** How many times max_payload a compressed batch may hold before encoding. */
const COMPRESSED_BATCH_FACTOR = 4;
/** Room left in a NATS message for the envelope header and the msgpack framing of a batch. */
const PAYLOAD_HEADROOM_BYTES = 8 * 1024;
/** Quiet periodic announcements showing a different digest, though we are caught up, before
 * we resynchronise with the peer. */
const MISMATCHES_BEFORE_RESYNC = 2;

/**
 * State-based synchronisation over NATS (DESIGN.md §4, docs/protocol.md): announces this node's
 * state, serves pulls of its change log, and pulls every peer that is ahead of what we hold.
 */
export class SyncEngine {
  readonly peers = new Map<string, PeerState>();
  private readonly subjects: ReturnType<typeof syncSubjects>;
  private subscriptions: Subscription[] = [];
  private announcePending = false;
  private periodicTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  /** Backoff sleeps in progress; stopping wakes them so no pull loop outlives the engine. */
  private readonly sleepers = new Map<NodeJS.Timeout, () => void>();
  /** Our seq at the last announcement; the next one carries the changes after it inline. */
  private announcedSeq = 0;
  private stopped = false;
  /** The one peer an empty node streams the full state from; the others reconcile after. */
  private bootstrapPeer: string | undefined;
  private bootstrapStartedMs = 0;
  private bootstrapLoggedMs = 0;
  private readonly bootstrapListeners = new Set<(progress: BootstrapProgress) => void>();
  private readonly exchange: ExchangeDeps;
  private readonly prefetched = new Map<string, { since: number; page: Promise<Msg> }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly store: RegistryStore,
    private readonly codec: SyncCodec,
    private readonly settings: SyncSettings,
    private readonly log: Logger,
    private readonly metrics: NodeMetrics,
    private readonly onApplied: AppliedSink,
    private readonly clock: () => number = Date.now,
    private readonly cursors: CursorStore = { initial: new Map(), save: () => {} },
  ) {
    this.subjects = syncSubjects(settings.subjectPrefix);
    this.exchange = {
      nc,
      store,
      nodeId: store.nodeId,
      encode: (message, compress) =>
        this.encode(message, compress && this.settings.compression === "deflate"),
      decode: (bytes) => this.decode(bytes),
      apply: (records) => this.apply(records, "reconcile"),
      timeoutMs: settings.pullTimeoutMs,
      maxMessageBytes: () => this.maxBatchBytes(),
    };
    for (const [id, saved] of cursors.initial) {
      const peer = new PeerState(id);
      peer.epoch = saved.epoch;
      peer.cursor = saved.cursor;
      peer.announcedSeq = saved.cursor;
      this.peers.set(id, peer);
    }
  }

  get nodeId(): string {
    return this.store.nodeId;
  }

  start(): void {
    this.subscriptions.push(
      this.nc.subscribe(this.subjects.announce, {
        callback: (err, msg) => !err && this.onAnnounceMsg(msg),
      }),
      this.nc.subscribe(this.subjects.pull(this.nodeId), {
        callback: (err, msg) => !err && this.onPullMsg(msg),
      }),
      this.nc.subscribe(this.subjects.reconcile(this.nodeId), {
        callback: (err, msg) => {
          if (!err)
            serveExchange(this.exchange, msg).catch((error: unknown) =>
              this.reject(error, "reconcile"),
            );
        },
      }),
    );
    this.announce();
    this.schedulePeriodic();
    this.probeTimer = setInterval(() => this.probeSuspects(), this.settings.suspectProbeMs);
    this.probeTimer.unref();
  }

  /** A local write happened: announce it soon, coalesced with whatever follows within the delay. */
  notifyChange(): void {
    if (this.announcePending || this.stopped) return;
    this.announcePending = true;
    const fire = () => {
      this.announcePending = false;
      this.announce();
    };
    // setImmediate runs after the I/O already queued, so a burst of writes still coalesces.
    if (this.settings.announceDelayMs > 0) setTimeout(fire, this.settings.announceDelayMs);
    else setImmediate(fire);
  }

  /** Stops syncing; the last announcement tells peers we are leaving. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.periodicTimer);
    clearInterval(this.probeTimer);
    for (const [timer, wake] of this.sleepers) {
      clearTimeout(timer);
      wake();
    }
    this.sleepers.clear();
    if (!this.nc.isClosed()) {
      try {
        this.publishAnnounce(true);
      } catch (error) {
        this.log.debug({ err: error }, "final announcement not sent");
      }
    }
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions = [];
  }

  /** Whether this node's digest equals that of every live peer. */
  isConverged(): boolean {
    const { digest } = this.store.digest();
    const now = this.clock();
    for (const peer of this.livePeers(now)) if (peer.digest !== digest) return false;
    return true;
  }

  livePeers(nowMs = this.clock()): PeerState[] {
    const liveness = this.livenessMs();
    return [...this.peers.values()].filter((p) => p.isAlive(nowMs, liveness));
  }

  /** A peer that announced within three intervals is alive; its leases are its own to expire. */
  livenessMs(): number {
    return 3 * this.settings.syncIntervalMs + this.settings.pullTimeoutMs;
  }

  private announce(periodic = false): void {
    if (this.stopped || this.nc.isClosed()) return;
    try {
      this.publishAnnounce(false, periodic);
    } catch (error) {
      this.log.warn({ err: error }, "announcement failed");
    }
  }

  private publishAnnounce(leaving: boolean, periodic = false): void {
    const { digest, count } = this.store.digest();
    const message: Announce = {
      type: "announce",
      v: PROTOCOL_VERSION,
      node: this.nodeId,
      epoch: this.store.epoch,
      seq: this.store.seq,
      digest,
      count,
      accepts: this.accepts(),
    };
    if (leaving) message.leaving = true;
    if (periodic) message.periodic = true;
    let inline = false;
    if (!leaving && this.store.seq > this.announcedSeq && this.settings.inlineChangesMaxBytes > 0) {
      // Only our own writes: every node announces its own, so relaying what we merged from
      // others would multiply traffic by the fleet size. Entries that miss a peer this way are
      // caught by pulls (which relay everything) and by the digest comparison.
      const page = this.store.changesSince(this.announcedSeq, {
        onlyNode: this.nodeId,
        maxEntries: this.settings.batchMaxEntries,
        maxBytes: this.settings.inlineChangesMaxBytes,
      });
      if (page.complete) {
        message.from = this.announcedSeq;
        message.entries = page.records.map(toTuple);
        inline = true;
      }
    }
    this.announcedSeq = this.store.seq;
    const bytes = this.encode(message, false);
    this.nc.publish(this.subjects.announce, bytes);
    this.metrics.announcements.inc({ direction: "out", inline: String(inline) });
  }

  private schedulePeriodic(): void {
    if (this.stopped) return;
    const delay = periodicInterval(this.settings.syncIntervalMs, this.peers.size + 1);
    this.periodicTimer = setTimeout(() => {
      this.announce(true);
      this.updateGauges();
      this.schedulePeriodic();
    }, delay);
    this.periodicTimer.unref();
  }

  private onAnnounceMsg(msg: Msg): void {
    let announce: Announce;
    // Inline entries are checked before anything else: a bad one rejects the whole message,
    // which then changes nothing, not even what we believe of the peer.
    let inline: EntryRecord[] | undefined;
    try {
      announce = parseMessage(AnnounceSchema, this.decode(msg.data));
      if (announce.node === this.nodeId) return;
      if (announce.entries !== undefined) inline = fromTuples(announce.entries);
    } catch (error) {
      this.reject(error, "announce");
      return;
    }
    this.metrics.announcements.inc({
      direction: "in",
      inline: String(announce.entries !== undefined),
    });
    const peer = this.peer(announce.node);
    if (announce.leaving) {
      peer.leaving = true;
      return;
    }
    peer.accepts = announce.accepts;
    const isNew = peer.lastSeenMs === 0;
    const epochChanged = peer.onAnnounce(
      announce.epoch,
      announce.seq,
      announce.digest,
      announce.count,
      this.clock(),
    );
    // Answer a newcomer at once so it learns of us within its discovery window, not a period later.
    if (isNew || epochChanged) this.notifyChange();
    if (epochChanged) this.onNewHistory(peer);
    if (
      inline !== undefined &&
      announce.from !== undefined &&
      !peer.pulling &&
      peer.cursor >= announce.from &&
      peer.cursor < announce.seq
    ) {
      void this.applyInline(peer, announce, inline);
      return;
    }
    this.afterAnnounce(peer, announce.periodic === true);
  }

  private async applyInline(
    peer: PeerState,
    announce: Announce,
    records: readonly EntryRecord[],
  ): Promise<void> {
    peer.pulling = true;
    try {
      await this.apply(records, "inline");
      if (peer.epoch === announce.epoch && peer.cursor < announce.seq) {
        peer.cursor = announce.seq;
        this.cursors.save(peer.id, peer.epoch, peer.cursor);
      }
    } catch (error) {
      this.reject(error, "announce");
    } finally {
      peer.pulling = false;
    }
    this.afterAnnounce(peer, announce.periodic === true);
  }

  private afterAnnounce(peer: PeerState, periodic = false): void {
    if (peer.behind) {
      void this.pullLoop(peer);
      return;
    }
    if (!periodic) return;
    // Caught up with its log, yet different: something was lost (a collected entry, a rejected
    // batch, a write that reached us only through a peer that died). Periodic announcements with
    // no change on either side since the last one rule out changes still in flight.
    const quiet =
      peer.announcedSeq === peer.lastPeriodicSeq && this.store.seq === peer.ownSeqAtLastPeriodic;
    peer.lastPeriodicSeq = peer.announcedSeq;
    peer.ownSeqAtLastPeriodic = this.store.seq;
    if (peer.digest !== this.store.digest().digest && quiet) {
      if (++peer.mismatches >= MISMATCHES_BEFORE_RESYNC) {
        this.log.info({ peer: peer.id }, "digests still differ after catching up; reconciling");
        peer.mismatches = 0;
        peer.reconcilePending = true;
        void this.pullLoop(peer);
      }
    } else {
      peer.mismatches = 0;
    }
  }

  /** Pulls from one peer until we hold everything it announced. One loop per peer at a time. */
  /**
   * Our cursor into `peer` is void. An empty node streams everything from one peer (the first
   * with data); every other case reconciles, which costs the differences, not the registry.
   */
  private onNewHistory(peer: PeerState): void {
    if (this.store.size === 0 && this.bootstrapPeer === undefined && peer.count > 0) {
      this.bootstrapPeer = peer.id;
      this.bootstrapStartedMs = this.clock();
      this.bootstrapLoggedMs = 0;
      this.log.info(
        { peer: peer.id, entries: peer.count },
        "bootstrapping: streaming the full state from one peer",
      );
      peer.reconcilePending = false;
    } else if (peer.count > 0 && (this.store.size > 0 || this.bootstrapPeer !== undefined)) {
      peer.reconcilePending = true;
    }
  }

  private async pullLoop(peer: PeerState): Promise<void> {
    if (peer.pulling || this.stopped) return;
    peer.pulling = true;
    try {
      while (!this.stopped && peer.needsSync && peer.state !== "suspect" && peer.state !== "left") {
        if (peer.reconcilePending) {
          // Reconciling against a half-streamed state would list most of the registry as
          // different; wait for the bootstrap to finish (it restarts this loop).
          if (this.bootstrapPeer !== undefined && this.bootstrapPeer !== peer.id) break;
          if (await this.reconcileOnce(peer)) continue;
        } else {
          const outcome = await this.pullOnce(peer);
          if (outcome === "reset") continue;
          if (outcome === "ok") {
            this.reportBootstrap(peer);
            continue;
          }
        }
        if (peer.onPullFailure(this.clock(), this.settings.suspectAfterFailures)) {
          this.log.warn(
            { peer: peer.id, failures: peer.failures },
            "peer marked suspect; skipping it until it announces or a probe succeeds",
          );
          if (this.bootstrapPeer === peer.id) this.finishBootstrap(false);
          break;
        }
        await this.sleep(
          fullJitterDelay(peer.failures, this.settings.retryBaseMs, this.settings.retryMaxMs),
        );
      }
    } finally {
      peer.pulling = false;
      this.updateGauges();
    }
  }

  /** One differential reconciliation with `peer`; true when it completed. */
  private async reconcileOnce(peer: PeerState): Promise<boolean> {
    const started = performance.now();
    try {
      const outcome = await reconcileWith(this.exchange, peer.id, this.subjects.reconcile(peer.id));
      peer.reconcilePending = false;
      peer.failures = 0;
      if (outcome.epoch === peer.epoch && outcome.seq > peer.cursor) {
        peer.cursor = outcome.seq;
        this.cursors.save(peer.id, peer.epoch, peer.cursor);
      }
      this.metrics.reconciliations.inc({ outcome: "ok" });
      this.log.info(
        { peer: peer.id, ...outcome, ms: Math.round(performance.now() - started) },
        "reconciled with peer",
      );
      return true;
    } catch (error) {
      this.metrics.reconciliations.inc({ outcome: "failed" });
      this.log.warn({ peer: peer.id, err: error }, "reconciliation failed");
      return false;
    }
  }

  private reportBootstrap(peer: PeerState): void {
    if (this.bootstrapPeer !== peer.id) return;
    if (!peer.behind) {
      this.finishBootstrap(true);
      return;
    }
    const progress = this.bootstrapping!;
    for (const listener of this.bootstrapListeners) listener(progress);
    const now = this.clock();
    if (now - this.bootstrapLoggedMs < 1_000) return;
    this.bootstrapLoggedMs = now;
    this.log.info(
      {
        peer: progress.peer,
        entries: progress.entries,
        total: progress.total,
        percent: Math.round(fractionDone(progress) * 1000) / 10,
        perSecond: progress.perSecond,
        etaS: progress.etaMs === undefined ? undefined : Math.round(progress.etaMs / 1000),
      },
      "bootstrap progress",
    );
  }

  private finishBootstrap(complete: boolean): void {
    const progress = this.bootstrapping!;
    this.bootstrapPeer = undefined;
    const final = { ...progress, state: complete ? "complete" : "failed" } as const;
    for (const listener of this.bootstrapListeners) listener(final);
    this.log.info(
      {
        peer: final.peer,
        complete,
        entries: final.entries,
        seconds: final.elapsedMs / 1000,
        perSecond: final.perSecond,
      },
      complete ? "bootstrap complete" : "bootstrap peer failed; reconciling with the others",
    );
    for (const other of this.peers.values()) if (other.needsSync) void this.pullLoop(other);
  }

  /** Bootstrap progress for `regsync status` and readiness: undefined when not bootstrapping. */
  get bootstrapping(): BootstrapProgress | undefined {
    if (this.bootstrapPeer === undefined) return undefined;
    return bootstrapProgress(
      this.bootstrapPeer,
      this.store.size,
      this.peers.get(this.bootstrapPeer)?.count ?? 0,
      this.clock() - this.bootstrapStartedMs,
    );
  }

  /**
   * Calls `listener` after every page of a bootstrap, and once more when it ends (state
   * `complete` or `failed`). Returns a function that removes it.
   */
  onBootstrapProgress(listener: (progress: BootstrapProgress) => void): () => void {
    this.bootstrapListeners.add(listener);
    return () => this.bootstrapListeners.delete(listener);
  }

  /**
   * One page of the peer's change log. Normally only the peer's own writes: every node hears
   * each writer directly, so relaying third parties' writes would send each change N times;
   * whatever a relay would have repaired, the digest comparison and reconciliation repair.
   * A bootstrap takes everything, our own old writes included, since we lost them.
   */
  private async pullOnce(peer: PeerState): Promise<"ok" | "reset" | "failed"> {
    const started = performance.now();
    let reply: PullReply;
    try {
      const msg = await this.takePage(peer, peer.cursor);
      this.metrics.pullWait.inc((performance.now() - started) / 1000);
      reply = parseMessage(PullReplySchema, this.decode(msg.data));
    } catch (error) {
      if (error instanceof InvalidMessageError || isEnvelopeError(error)) {
        this.reject(error, "batch");
      } else {
        this.log.debug({ peer: peer.id, err: error }, "pull failed");
      }
      this.metrics.syncRounds.inc({ outcome: "failed" });
      return "failed";
    }
    // Ask for the next page while this one is applied: the peer encodes as we merge, which
    // roughly halves the time of a long catch-up or a bootstrap.
    if (reply.type === "batch" && !reply.complete && reply.epoch === peer.epoch) {
      this.prefetched.set(peer.id, {
        since: reply.cursor,
        page: this.requestPage(peer, reply.cursor),
      });
      // nats.js sends what it buffered in a microtask; merging this page runs synchronously,
      // so without yielding here the request would leave only after the merge, and the peer
      // would encode while we wait instead of while we merge.
      await Promise.resolve();
    }
    if (reply.node !== peer.id) {
      this.reject(
        new InvalidMessageError(`reply from ${reply.node}, expected ${peer.id}`),
        "batch",
      );
      return "failed";
    }
    if (reply.type === "error") {
      this.log.warn({ peer: peer.id, reason: reply.message }, "peer refused our pull");
      this.metrics.syncRounds.inc({ outcome: "failed" });
      return "failed";
    }
    if (reply.type === "reset") {
      this.log.info({ peer: peer.id, epoch: reply.epoch }, "peer has a new history");
      peer.reset(reply.epoch, reply.head);
      this.onNewHistory(peer);
      this.metrics.syncRounds.inc({ outcome: "reset" });
      return "reset";
    }
    let records: EntryRecord[];
    try {
      records = fromTuples(reply.entries);
    } catch (error) {
      this.reject(error, "batch");
      this.metrics.syncRounds.inc({ outcome: "failed" });
      return "failed";
    }
    await this.apply(records, "pull");
    const latencyMs = performance.now() - started;
    this.metrics.pullLatency.observe(latencyMs / 1000);
    this.metrics.syncRounds.inc({ outcome: "ok" });
    if (reply.epoch === peer.epoch) {
      peer.onPullSuccess(reply.cursor, reply.head, this.clock(), latencyMs);
      this.cursors.save(peer.id, peer.epoch, peer.cursor);
    }
    return "ok";
  }

  /** The page starting at `since`: the one prefetched if it matches, else a new request. */
  private takePage(peer: PeerState, since: number): Promise<Msg> {
    const prefetched = this.prefetched.get(peer.id);
    this.prefetched.delete(peer.id);
    if (prefetched !== undefined && prefetched.since === since) return prefetched.page;
    return this.requestPage(peer, since);
  }

  private requestPage(peer: PeerState, since: number): Promise<Msg> {
    const request: PullRequest = {
      type: "pull",
      v: PROTOCOL_VERSION,
      node: this.nodeId,
      epoch: peer.epoch,
      since,
      maxEntries: this.settings.batchMaxEntries,
      maxBytes: this.maxBatchBytes(),
      originOnly: this.bootstrapPeer !== peer.id,
      accepts: this.accepts(),
    };
    const page = this.nc.request(this.subjects.pull(peer.id), this.encode(request, false), {
      timeout: this.settings.pullTimeoutMs,
    });
    // A prefetch nobody takes (the loop stopped, the epoch changed) must not be an unhandled rejection.
    page.catch(() => {});
    return page;
  }

  private async apply(
    records: readonly EntryRecord[],
    path: "inline" | "pull" | "reconcile",
  ): Promise<MergeResult> {
    const result = this.store.merge(records);
    if (result.applied.length > 0) await this.onApplied(result.applied);
    this.metrics.entriesApplied.inc({ path }, result.applied.length);
    if (result.stale > 0) this.metrics.entriesStale.inc(result.stale);
    if (result.rejectedSkew > 0) {
      this.metrics.entriesRejected.inc({ reason: "clock_skew" }, result.rejectedSkew);
      this.log.warn({ count: result.rejectedSkew }, "rejected entries from a clock too far ahead");
    }
    if (result.rejectedExpired > 0)
      this.metrics.entriesRejected.inc({ reason: "past_grace" }, result.rejectedExpired);
    return result;
  }

  private onPullMsg(msg: Msg): void {
    if (!msg.reply) return;
    let request: PullRequest;
    try {
      request = parseMessage(PullRequestSchema, this.decode(msg.data));
    } catch (error) {
      this.reject(error, "pull");
      msg.respond(this.encode(errorReply(this.nodeId, error), false));
      return;
    }
    const compress = request.accepts.includes("deflate");
    if (request.epoch !== this.store.epoch && !(request.epoch === "" && request.since === 0)) {
      const reset = {
        type: "reset",
        v: PROTOCOL_VERSION,
        node: this.nodeId,
        epoch: this.store.epoch,
        head: this.store.seq,
      };
      msg.respond(this.encode(reset, compress));
      return;
    }
    let maxEntries = Math.min(request.maxEntries, this.settings.batchMaxEntries);
    const maxBytes = Math.min(request.maxBytes, this.maxBatchBytes());
    // The byte bound is an estimate; if the encoded batch still exceeds the server's limit,
    // halve the entry count until it fits.
    for (;;) {
      const page = this.store.changesSince(request.since, {
        onlyNode: request.originOnly ? this.nodeId : undefined,
        maxEntries,
        maxBytes,
      });
      const batch = {
        type: "batch",
        v: PROTOCOL_VERSION,
        node: this.nodeId,
        epoch: this.store.epoch,
        since: request.since,
        cursor: page.cursor,
        head: this.store.seq,
        complete: page.complete,
        entries: page.records.map(toTuple),
      };
      const bytes = this.encode(batch, compress);
      if (bytes.length <= this.nc.info!.max_payload || maxEntries === 1) {
        msg.respond(bytes);
        return;
      }
      maxEntries = Math.max(1, maxEntries >> 1);
    }
  }

  private probeSuspects(): void {
    for (const peer of this.peers.values()) {
      if (peer.state !== "suspect" || peer.pulling) continue;
      // One probe: clear suspicion for a single attempt; failure makes it suspect again.
      peer.suspectSinceMs = 0;
      peer.failures = this.settings.suspectAfterFailures - 1;
      if (peer.behind) void this.pullLoop(peer);
    }
  }

  private peer(id: string): PeerState {
    let peer = this.peers.get(id);
    if (peer === undefined) {
      peer = new PeerState(id);
      this.peers.set(id, peer);
      this.log.info({ peer: id }, "new peer");
    }
    return peer;
  }

  /**
   * The raw (uncompressed) size a batch may reach. Deflated registry entries shrink about
   * tenfold, so with compression a batch may hold several times the server's max_payload;
   * the encoded batch is still checked against max_payload, and halved until it fits.
   */
  private maxBatchBytes(): number {
    const serverMax = this.nc.info?.max_payload ?? 1 << 20;
    const ceiling =
      this.settings.compression === "deflate" ? COMPRESSED_BATCH_FACTOR * serverMax : serverMax;
    return Math.max(1024, Math.min(this.settings.batchMaxBytes, ceiling - PAYLOAD_HEADROOM_BYTES));
  }

  private accepts(): string[] {
    return this.settings.compression === "deflate" ? ["deflate"] : [];
  }

  private encode(message: object, compress: boolean): Uint8Array {
    const { bytes, rawBytes } = this.codec.encode(
      message,
      compress && this.settings.compression === "deflate",
    );
    this.metrics.syncBytes.inc({ direction: "out", stage: "raw" }, rawBytes);
    this.metrics.syncBytes.inc({ direction: "out", stage: "wire" }, bytes.length);
    return bytes;
  }

  private decode(bytes: Uint8Array): unknown {
    this.metrics.syncBytes.inc({ direction: "in", stage: "wire" }, bytes.length);
    const { message, rawBytes } = this.codec.decode(bytes);
    this.metrics.syncBytes.inc({ direction: "in", stage: "raw" }, rawBytes);
    return message;
  }

  private reject(error: unknown, what: string): void {
    const reason = isEnvelopeError(error)
      ? error.reason
      : error instanceof InvalidEntryError || error instanceof InvalidMessageError
        ? "invalid"
        : "internal";
    this.metrics.batchesRejected.inc({ reason });
    this.log.warn({ what, reason, err: error }, "rejected sync message");
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleepers.delete(timer);
        resolve();
      }, ms);
      this.sleepers.set(timer, resolve);
    });
  }

  private updateGauges(): void {
    const counts: Record<string, number> = { healthy: 0, retrying: 0, suspect: 0, left: 0 };
    for (const peer of this.peers.values()) counts[peer.state] = (counts[peer.state] ?? 0) + 1;
    for (const [state, n] of Object.entries(counts)) this.metrics.peers.set({ state }, n);
    this.metrics.entries.set(this.store.size);
  }
}

function isEnvelopeError(error: unknown): error is Error & { reason: string } {
  return (
    error instanceof Error &&
    error.name === "EnvelopeError" &&
    typeof (error as { reason?: unknown }).reason === "string"
  );
}
