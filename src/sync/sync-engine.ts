import type { Logger } from "pino";
import { syncSubjects } from "../contract/subjects.js";
import type { Entry, EntryRecord, MergeResult, RegistryStore } from "../core/mod.js";
import { acceptedAnnounce } from "./announce-fast-path.js";
import { Announcer } from "./announcer.js";
import { periodicInterval } from "./backoff.js";
import { Bootstrap } from "./bootstrap.js";
import type { BootstrapProgress } from "./bootstrap-progress.js";
import { type MessageCodec, meteredCodec, type SyncCodec } from "./codec.js";
import { fromTuples, type HeldEntry, heldIn } from "./entry-codec.js";
import { answerHeads, askHeads } from "./heads.js";
import {
  type Announce,
  AnnounceSchema,
  checkEcho,
  InvalidMessageError,
  parseMessage,
} from "./messages.js";
import type { PeerState } from "./peer.js";
import { type LocalView, type PeerAction, PeerTable } from "./peer-table.js";
import { PullClient } from "./pull-client.js";
import { answerPull, maxBatchBytes } from "./pull-server.js";
import { type ExchangeDeps, reconcileWith, serveExchange } from "./reconcile-exchange.js";
import {
  ADMIT_ALL,
  RefusedRequestError,
  RequestFreshness,
  type RequestGate,
} from "./request-freshness.js";
import { SilenceWatch } from "./silence-watch.js";
import { SuspectProbe } from "./suspect-probe.js";
import {
  type ApplyPath,
  NO_SYNC_METRICS,
  rejectionReason,
  type SyncMetrics,
} from "./sync-metrics.js";
import { REAL_TIMERS, type SyncTimers } from "./timers.js";
import type { SyncTransport, TransportSubscription } from "./transport.js";
import { answerVersions, askVersions, type HeldVersions } from "./versions.js";

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
  /** This node's region, told to peers in every announcement (docs/topologies.md). */
  region?: string;
  /** Peers tracked at most; announcements of further new node ids are refused and counted. */
  maxPeers: number;
  /** Left or silent peers are dropped from the peer table this long after they went quiet
   * (their announcement stamps are kept, so replays stay stale). */
  forgetPeerAfterMs: number;
}

/** Called with entries applied from peers, before cursors advance: the node persists them. */
export type AppliedSink = (entries: readonly Entry[]) => Promise<void> | void;

/** Peers' cursors kept across restarts, so a durable node resumes pulling where it stopped. */
export interface CursorStore {
  initial: ReadonlyMap<string, { epoch: string; cursor: number }>;
  /** Persists a cursor; a failure is logged, never fatal (the cursor is merely older on restart). */
  save: (peer: string, epoch: string, cursor: number) => Promise<void> | void;
}

export interface SyncEngineOptions {
  transport: SyncTransport;
  store: RegistryStore;
  codec: SyncCodec;
  settings: SyncSettings;
  log: Logger;
  /** @default NO_SYNC_METRICS */
  metrics?: SyncMetrics;
  /** @default nothing to do */
  onApplied?: AppliedSink;
  /** Wall clock, timers and randomness. @default REAL_TIMERS */
  timers?: SyncTimers;
  /** @default no saved cursors, nothing saved */
  cursors?: CursorStore;
}

/**
 * An announcement's inline changes are its sender's own writes, never relayed ones: a node
 * that sends another node's entries inline is passing them off as news from their writer.
 */
function ownWrites(sender: string, tuples: unknown, held: HeldEntry): EntryRecord[] {
  const records = fromTuples(tuples, held);
  for (const record of records)
    if (record.node !== sender)
      throw new InvalidMessageError(`announcement of ${sender} carries a write of ${record.node}`);
  return records;
}

/**
 * State-based synchronisation (DESIGN.md §4, docs/protocol.md), coordinating its parts: the
 * announcer tells peers our state, the peer table judges theirs, the pull client fetches what
 * we lack (after a bootstrap or a reconciliation when our cursor is void), the pull server and
 * the reconcile exchange answer peers, and the suspect probe retries silent peers.
 */
export class SyncEngine {
  readonly peers: PeerTable;
  private readonly o: Required<Omit<SyncEngineOptions, "codec">>;
  private readonly codec: MessageCodec;
  private readonly subjects: ReturnType<typeof syncSubjects>;
  private readonly announcer: Announcer;
  private readonly bootstrap: Bootstrap;
  private readonly pulls: PullClient;
  private readonly probe: SuspectProbe;
  private readonly silence: SilenceWatch;
  private readonly exchange: ExchangeDeps;
  private readonly accepts: readonly string[];
  /** Judges the freshness of the requests we answer: stale and replayed ones cost O(1). */
  private readonly gate: RequestGate;
  /** The replica's entries, so a peer's entry that repeats a stored body is not checked again. */
  private readonly held: HeldEntry;
  private subscriptions: TransportSubscription[] = [];
  private stopped = false;
  /** Pull loops and inline applies under way: stopping waits for them, so none writes to
   * storage after the node closed it. */
  private readonly inflight = new Set<Promise<void>>();
  /** Per peer: the last inline apply still committing, which the next one's cursor move waits for. */
  private readonly inlineTails = new Map<string, Promise<void>>();

  constructor(options: SyncEngineOptions) {
    this.o = {
      metrics: NO_SYNC_METRICS,
      onApplied: () => {},
      timers: REAL_TIMERS,
      cursors: { initial: new Map(), save: () => {} },
      ...options,
    };
    const { settings, store, transport, timers, metrics, log } = this.o;
    this.held = heldIn(store);
    this.codec = meteredCodec(options.codec, metrics, settings.compression);
    this.subjects = syncSubjects(settings.subjectPrefix);
    this.peers = new PeerTable(this.o.cursors.initial, { maxPeers: settings.maxPeers });
    const accepts = settings.compression === "deflate" ? ["deflate"] : [];
    this.accepts = accepts;
    // The window spans the clock skew honest nodes may have, plus a request's time in flight.
    this.gate = options.codec.authenticates
      ? new RequestFreshness({
          windowMs: store.clock.maxSkewMs + settings.pullTimeoutMs,
          wallClock: () => store.clock.wall(),
          maxPeers: settings.maxPeers,
        })
      : ADMIT_ALL;
    this.bootstrap = new Bootstrap(store, this.peers, () => timers.now(), log);
    this.announcer = new Announcer({
      transport,
      subject: this.subjects.announce,
      store,
      codec: this.codec,
      timers,
      metrics,
      log,
      announceDelayMs: settings.announceDelayMs,
      syncIntervalMs: settings.syncIntervalMs,
      inlineChangesMaxBytes: settings.inlineChangesMaxBytes,
      batchMaxEntries: settings.batchMaxEntries,
      accepts,
      region: settings.region,
      fleetSize: () => this.peers.size + 1,
      onPeriodic: () => this.updateGauges(),
      onOwnWritesAnnounced: () => {
        const now = timers.now();
        for (const peer of this.peers.values()) peer.awaitEcho(now);
      },
    });
    this.exchange = {
      transport,
      store,
      nodeId: store.nodeId,
      codec: this.codec,
      apply: (records) => this.apply(records, "reconcile"),
      timeoutMs: settings.pullTimeoutMs,
      maxMessageBytes: () => this.maxBatchBytes(),
      random: timers.random,
      gate: this.gate,
    };
    this.pulls = new PullClient({
      transport,
      subject: this.subjects.pull,
      nodeId: store.nodeId,
      codec: this.codec,
      timers,
      metrics,
      log,
      bootstrap: this.bootstrap,
      pullTimeoutMs: settings.pullTimeoutMs,
      retryBaseMs: settings.retryBaseMs,
      retryMaxMs: settings.retryMaxMs,
      suspectAfterFailures: settings.suspectAfterFailures,
      batchMaxEntries: settings.batchMaxEntries,
      maxBatchBytes: () => this.maxBatchBytes(),
      accepts,
      stamp: () => store.clock.now(),
      apply: (records) => this.apply(records, "pull"),
      held: this.held,
      reconcile: (peer) => this.reconcileOnce(peer),
      saveCursor: (peer) => this.saveCursor(peer),
      onBootstrapEnded: () => {
        for (const peer of this.peers.values()) if (peer.needsSync) this.syncWith(peer);
      },
    });
    this.silence = new SilenceWatch(
      timers,
      () => this.overdueMs(),
      () => this.peers.values(),
      () => this.notifyChange(),
    );
    this.probe = new SuspectProbe(
      timers,
      settings.suspectProbeMs,
      settings.suspectAfterFailures,
      () => this.peers.values(),
      (peer) => this.syncWith(peer),
    );
  }

  get nodeId(): string {
    return this.o.store.nodeId;
  }

  start(): void {
    const { transport } = this.o;
    this.subscriptions.push(
      transport.subscribe(this.subjects.announce, (msg) => this.onAnnounce(msg.data)),
      transport.subscribe(this.subjects.pull(this.nodeId), (msg) => {
        if (msg.reply === undefined) return;
        const answer = answerPull(
          msg.data,
          this.o.store,
          this.codec,
          {
            batchMaxEntries: this.o.settings.batchMaxEntries,
            maxBatchBytes: this.maxBatchBytes(),
            maxPayload: transport.maxPayload(),
          },
          this.gate,
        );
        if ("rejected" in answer) this.reject(answer.rejected, "pull");
        if (answer.bytes !== undefined) this.respond(msg, answer.bytes);
      }),
      transport.subscribe(this.subjects.heads, (msg) => {
        try {
          answerHeads(msg, this.o.store, this.codec, this.accepts, this.gate);
        } catch (error) {
          this.reject(error, "heads");
        }
      }),
      transport.subscribe(this.subjects.versions, (msg) => {
        try {
          answerVersions(msg, this.o.store, this.codec, this.gate);
        } catch (error) {
          this.reject(error, "versions");
        }
      }),
      transport.subscribe(this.subjects.reconcile(this.nodeId), (msg) => {
        serveExchange(this.exchange, msg).catch((error: unknown) =>
          this.reject(error, "reconcile"),
        );
      }),
    );
    this.announcer.start();
    this.probe.start();
    this.silence.start();
  }

  /** A local write happened: announce it soon, coalesced with whatever follows. */
  notifyChange(): void {
    if (!this.stopped) this.announcer.notifyChange();
  }

  /** Stops syncing; the last announcement tells peers we are leaving. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.probe.stop();
    this.silence.stop();
    this.pulls.stop();
    this.announcer.stop();
    for (const sub of this.subscriptions) sub.unsubscribe();
    this.subscriptions = [];
    await Promise.allSettled(this.inflight);
  }

  /** Whether this node's digest equals that of every live peer. */
  isConverged(): boolean {
    const { digest } = this.o.store.digest();
    for (const peer of this.livePeers()) if (peer.digest !== digest) return false;
    return true;
  }

  livePeers(nowMs = this.o.timers.now()): PeerState[] {
    return this.peers.live(nowMs, this.livenessMs());
  }

  /**
   * The connection to NATS came back: what peers did meanwhile may not have reached us, nor
   * ours them. Announce at once and ask every peer for its head, instead of waiting a period.
   */
  onReconnect(): void {
    if (this.stopped) return;
    this.notifyChange();
    void this.askHeads();
  }

  /** A peer silent this long missed a periodic announcement (the longest jittered period,
   * and half again): a partition or a crash hides it. */
  overdueMs(): number {
    const longest = periodicInterval(this.o.settings.syncIntervalMs, this.peers.size + 1, () => 1);
    return Math.round(1.5 * longest);
  }

  /** A peer that announced within three intervals is alive; its leases are its own to expire. */
  livenessMs(): number {
    return 3 * this.o.settings.syncIntervalMs + this.o.settings.pullTimeoutMs;
  }

  /** Bootstrap progress for `regsync status` and readiness: undefined when not bootstrapping. */
  get bootstrapping(): BootstrapProgress | undefined {
    return this.bootstrap.progress;
  }

  /**
   * Calls `listener` after every page of a bootstrap, and once more when it ends (state
   * `complete` or `failed`). Returns a function that removes it.
   */
  onBootstrapProgress(listener: (progress: BootstrapProgress) => void): () => void {
    return this.bootstrap.onProgress(listener);
  }

  /** Runs one suspect-probe round now (tests; the engine runs them on its own timer). */
  probeSuspects(): void {
    this.probe.probe();
  }

  /** Peers this node knows of and that did not say they left: live, silent, partitioned away
   * or dead, until forgotten (`forgetPeerAfterMs`). */
  knownPeers(): string[] {
    return [...this.peers.values()].filter((p) => p.state !== "left").map((p) => p.id);
  }

  /** Asks every node that hears it which version of `keys` it holds (versions.ts). */
  async askVersions(keys: readonly (readonly [string, string])[]): Promise<HeldVersions> {
    return askVersions(
      this.o.transport,
      this.subjects.versions,
      this.codec,
      this.o.store,
      keys,
      this.o.settings.pullTimeoutMs,
    );
  }

  /**
   * Asks every live peer for its current head and takes each answer as an announcement (a
   * starting node's saved cursors say only what peers held when it stopped). Resolves with the
   * peers that answered.
   */
  async askHeads(): Promise<string[]> {
    let asked: Awaited<ReturnType<typeof askHeads>> | undefined;
    try {
      asked = await askHeads(
        this.o.transport,
        this.subjects.heads,
        this.codec,
        this.o.store,
        this.o.settings.pullTimeoutMs,
      );
    } catch (error) {
      this.o.log.warn({ err: error }, "asking peers for their heads failed");
    }
    if (asked === undefined) return [];
    const { nonce, answers } = asked;
    return answers.map((data) => this.onAnnounce(data, nonce)).filter((id) => id !== undefined);
  }

  /**
   * Takes in a peer's announcement; returns the peer's id when it was valid. `headsNonce`: it
   * answers our heads question with that nonce (a reply that does not echo it is stale), and
   * may arrive after a newer announcement of the same peer.
   */
  private onAnnounce(data: Uint8Array, headsNonce?: string): string | undefined {
    const headsAnswer = headsNonce !== undefined;
    let announce: Announce;
    // Inline entries are checked before anything else: a bad one rejects the whole message,
    // which then changes nothing, not even what we believe of the peer.
    let inline: EntryRecord[] | undefined;
    try {
      announce = parseMessage(AnnounceSchema, this.codec.decode(data), acceptedAnnounce);
      if (announce.node === this.nodeId) return undefined;
      if (headsNonce !== undefined) checkEcho(announce, headsNonce);
      if (announce.entries !== undefined)
        inline = ownWrites(announce.node, announce.entries, this.held);
    } catch (error) {
      this.reject(error, "announce");
      return undefined;
    }
    this.o.metrics.announced("in", announce.entries !== undefined);
    const outcome = this.peers.onAnnounce(announce, inline, this.o.timers.now(), this.localView());
    if ("refused" in outcome) {
      // A heads answer overtaken by a newer announcement: the peer answered, and what we hold
      // of it is newer. Not a replay, so not counted.
      if (headsAnswer && outcome.refused === "stale" && this.peers.has(announce.node))
        return announce.node;
      // A replay or a flood of fake ids: counted, at O(1) cost, and not logged one by one.
      this.o.metrics.rejected(outcome.refused);
      return undefined;
    }
    const { peer, created, actions } = outcome;
    if (created) this.o.log.info({ peer: peer.id }, "new peer");
    this.run(peer, actions, announce);
    return peer.id;
  }

  private run(peer: PeerState, actions: readonly PeerAction[], announce: Announce): void {
    for (const action of actions) {
      switch (action.type) {
        case "answer":
          this.notifyChange();
          break;
        case "new-history":
          this.bootstrap.onNewHistory(peer);
          break;
        case "apply-inline":
          this.applyInline(peer, announce, action.records, action.continues === true);
          break;
        case "sync":
          if (action.mismatch)
            this.o.log.info(
              { peer: peer.id },
              "digests still differ after catching up; reconciling",
            );
          this.syncWith(peer);
          break;
      }
    }
  }

  /**
   * Merges a peer's inline changes at once; our cursor moves past them once they are durable.
   * An announcement that continues inline applies still committing (`continues`) is merged on
   * arrival too, and its cursor move waits behind theirs: the cursor only moves past entries on
   * disk, in order, and a failed commit stops it there, so what follows is pulled again.
   */
  private applyInline(
    peer: PeerState,
    announce: Announce,
    records: readonly EntryRecord[],
    continues: boolean,
  ): void {
    if (!continues && !peer.beginInline(announce.seq)) return;
    const durable = this.apply(records, "inline");
    // Each failed commit is told once, by its own apply; those behind it just stop.
    durable.catch((error: unknown) => this.reject(error, "announce"));
    const before = this.inlineTails.get(peer.id) ?? Promise.resolve();
    const tail = before
      .then(() => durable)
      .then(() => {
        if (peer.advanceTo(announce.epoch, announce.seq)) this.saveCursor(peer);
      });
    this.inlineTails.set(peer.id, tail);
    this.track(
      tail.then(settled, settled).then(() => {
        peer.inlineSettled();
        if (this.inlineTails.get(peer.id) !== tail) return;
        this.inlineTails.delete(peer.id);
        peer.endPulling();
        this.run(
          peer,
          this.peers.afterAnnounce(peer, announce.periodic === true, this.localView()),
          announce,
        );
      }),
    );
  }

  private syncWith(peer: PeerState): void {
    if (this.stopped) return;
    this.track(
      this.pulls
        .sync(peer)
        .catch((error: unknown) => this.o.log.warn({ peer: peer.id, err: error }, "sync failed"))
        .finally(() => this.updateGauges()),
    );
  }

  private track(work: Promise<void>): void {
    this.inflight.add(work);
    const done = () => this.inflight.delete(work);
    work.then(done, done);
  }

  /** One differential reconciliation with `peer`; true when it completed. */
  private async reconcileOnce(peer: PeerState): Promise<boolean> {
    const started = performance.now();
    try {
      const outcome = await reconcileWith(this.exchange, peer.id, this.subjects.reconcile(peer.id));
      peer.onReconciled();
      if (peer.advanceTo(outcome.epoch, outcome.seq)) this.saveCursor(peer);
      this.o.metrics.reconciled("ok");
      this.o.log.info(
        { peer: peer.id, ...outcome, ms: Math.round(performance.now() - started) },
        "reconciled with peer",
      );
      return true;
    } catch (error) {
      this.o.metrics.reconciled("failed");
      this.o.log.warn({ peer: peer.id, err: error }, "reconciliation failed");
      return false;
    }
  }

  /** Merges peers' records; resolves with what the merge really applied. */
  private async apply(records: readonly EntryRecord[], path: ApplyPath): Promise<MergeResult> {
    const result = this.o.store.merge(records);
    if (result.applied.length > 0) {
      await this.o.onApplied(result.applied);
      if (!this.stopped) this.announcer.notifyMerged();
    }
    this.o.metrics.applied(path, result);
    if (result.rejectedSkew > 0)
      this.o.log.warn(
        { count: result.rejectedSkew },
        "rejected entries from a clock too far ahead",
      );
    return result;
  }

  private saveCursor(peer: PeerState): void {
    try {
      const saved = this.o.cursors.save(peer.id, peer.epoch, peer.cursor);
      // A cursor that fails to persist is only older after a restart: pulls resume from there.
      if (saved instanceof Promise)
        saved.catch((error: unknown) =>
          this.o.log.warn({ peer: peer.id, err: error }, "saving the peer's cursor failed"),
        );
    } catch (error) {
      this.o.log.warn({ peer: peer.id, err: error }, "saving the peer's cursor failed");
    }
  }

  private respond(msg: { respond(data: Uint8Array): void }, bytes: Uint8Array): void {
    try {
      msg.respond(bytes);
    } catch (error) {
      this.o.log.debug({ err: error }, "reply not sent");
    }
  }

  /** Our side of an announcement's judgement. The digest is rendered only when a branch reads
   * it (a periodic announcement, a peer seen again): rendering it for every inline
   * announcement cost ~2% of a node applying a peer's writes. */
  private localView(): LocalView {
    const { store } = this.o;
    return {
      seq: store.seq,
      get digest() {
        return store.digest().digest;
      },
      overdueMs: this.overdueMs(),
    };
  }

  private maxBatchBytes(): number {
    const { settings, transport } = this.o;
    return maxBatchBytes(settings.batchMaxBytes, transport.maxPayload(), settings.compression);
  }

  private reject(error: unknown, what: string): void {
    const reason = rejectionReason(error);
    this.o.metrics.rejected(reason);
    // A replayed request is counted, not logged one by one: a flood of them would cost a log line each.
    const level = error instanceof RefusedRequestError ? "debug" : "warn";
    this.o.log[level]({ what, reason, err: error }, "rejected sync message");
  }

  private updateGauges(): void {
    const now = this.o.timers.now();
    const liveness = this.livenessMs();
    const forgotten = this.peers.forgetGone(now, liveness, this.o.settings.forgetPeerAfterMs);
    if (forgotten.length > 0) this.o.log.info({ peers: forgotten }, "forgot peers gone quiet");
    this.o.metrics.peerStates(this.peers.stateCounts(now, liveness), this.o.store.size);
  }
}

/** Ends a promise chain either way; what failed was told where it failed. */
function settled(): void {}
