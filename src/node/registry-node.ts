import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection, Subscription } from "nats";
import type { Logger } from "pino";
import type { NodeConfig } from "../config/schema.js";
import { type ClientEndpoint, statusSubject, syncSubjects } from "../contract/subjects.js";
import {
  type ChangeEvent,
  type CustomMerge,
  type Entry,
  RegistryStore,
  resolveRegion,
  SelfPreservation,
} from "../core/mod.js";
import { connectFailureCause } from "../nats/connect-failure.js";
import { LmdbStorage } from "../storage/lmdb-storage.js";
import { MemoryStorage, type PersistedState, type ReplicaStorage } from "../storage/storage.js";
import type { BootstrapProgress } from "../sync/bootstrap-progress.js";
import type { SyncCodec } from "../sync/codec.js";
import { NatsSyncTransport } from "../sync/nats-transport.js";
import { SyncEngine } from "../sync/sync-engine.js";
import { realTimersWithClock, type SyncTimers } from "../sync/timers.js";
import type { SyncTransport } from "../sync/transport.js";
import { VERSION } from "../version.js";
import { WriteAdmission } from "./admission.js";
import { RegistryApi } from "./api.js";
import { ChangePublisher } from "./changes.js";
import { natsSettingsOf } from "./connection.js";
import { ConvergenceLag } from "./convergence-lag.js";
import { dashboardChanges, dashboardInstances, dashboardServices } from "./dashboard-data.js";
import { connectForStart } from "./first-connect.js";
import { forwardRequest, serveForwarded } from "./forwarding.js";
import { startHttpServer } from "./http.js";
import { LeaseExpiry } from "./lease-expiry.js";
import type { NodeState } from "./lifecycle.js";
import { createLogger } from "./log.js";
import { NodeMetrics } from "./metrics.js";
import { replyBudget } from "./pages.js";
import { CausalWait } from "./read-your-writes.js";
import { NodeRegions } from "./regions.js";
import { RejectionLog } from "./rejection-log.js";
import { ReplyGuard } from "./reply-guard.js";
import { type ClientService, startClientService } from "./service.js";
import { explainStartFailure, httpBindFailure } from "./start-failure.js";
import { type NodeStatus, nodeStatus } from "./status.js";
import { answerStatus } from "./status-responder.js";

/**
 * What a node is built from. Only `config` and `codec` are required; everything else defaults
 * to what `regsync node` uses, and is injectable so that code embedding regsync (or a test)
 * can swap one part without forking the node. See docs/embedding.md.
 */
export interface RegistryNodeOptions {
  config: NodeConfig;
  /** Codec for sync payloads (envelope, compression, signatures). */
  codec: SyncCodec;
  /** @default a pino logger per `config.logLevel` and `config.logFormat` */
  logger?: Logger;
  /** Wall clock in ms; tests inject a skewed one. @default Date.now */
  wallClock?: () => number;
  /** Where the replica persists. @default LMDB in `config.dataDir`, or nothing with `config.memory` */
  storage?: ReplicaStorage;
  /** The network sync runs over. @default the node's NATS connection */
  syncTransport?: SyncTransport;
  /** Clock, timers and randomness for sync. @default real timers reading `wallClock` */
  timers?: SyncTimers;
  /**
   * A custom merge of two versions of one key (DESIGN.md §3); it replaces
   * `config.conflictResolution`. It must be deterministic and associative, or replicas diverge.
   */
  merge?: CustomMerge;
}

const READY_POLL_MS = 25;
/** NATS's default max_payload, for the moment before the server's INFO is known. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * A registry node: the replica (core), the client API as a NATS micro service, change
 * notifications, sync with peers, and lease expiry. `start()` connects and serves; `stop()`
 * drains, announces that it leaves and closes.
 */
export class RegistryNode {
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics = new NodeMetrics();
  readonly store: RegistryStore;
  private readonly storage: ReplicaStorage;
  private readonly restored: PersistedState | undefined;
  private readonly codec: SyncCodec;
  private readonly preservation: SelfPreservation;
  private readonly wallClock: () => number;
  private readonly options: RegistryNodeOptions;
  private nc: NatsConnection | undefined;
  private service: ClientService | undefined;
  private sync: SyncEngine | undefined;
  private publisher: ChangePublisher | undefined;
  private regionView: NodeRegions | undefined;
  private expiry: LeaseExpiry | undefined;
  private convergence: ConvergenceLag | undefined;
  private readonly removals = new Set<Promise<void>>();
  private statusSub: Subscription | undefined;
  private forwardSub: Subscription | undefined;
  private readonly replicatedListeners = new Set<(entries: readonly Entry[]) => void>();
  private readonly bootstrapListeners = new Set<(progress: BootstrapProgress) => void>();
  private http: import("node:http").Server | undefined;
  /** Where the HTTP server listens, once started ("" when disabled). */
  httpUrl = "";
  private lifecycle: NodeState = "starting";
  /** Holds what its peers announced: client requests may be served. */
  private caughtUp = false;
  private stopping = false;
  private storageClosed = false;
  private readonly startedAtMs = Date.now();
  /** Whether the NATS connection is up now, the server it is on, and the last failure seen. */
  private connected = false;
  private connectedServer = "";
  private connectionProblem = "";

  constructor(options: RegistryNodeOptions) {
    this.options = options;
    this.config = options.config;
    this.codec = options.codec;
    this.wallClock = options.wallClock ?? Date.now;
    this.log =
      options.logger ??
      createLogger(this.config.logLevel, { node: this.config.id }, this.config.logFormat);
    this.storage =
      options.storage ??
      (this.config.memory
        ? new MemoryStorage()
        : new LmdbStorage(this.config.dataDir ?? `.regsync/${this.config.id}`, this.config.id));
    const storageStats = this.storage.stats?.bind(this.storage);
    if (storageStats !== undefined) this.metrics.followStorage(storageStats);
    this.restored = this.storage.load();
    this.store = new RegistryStore({
      nodeId: this.config.id,
      epoch: this.restored?.epoch ?? newEpoch(),
      wallClock: this.wallClock,
      maxClockSkewMs: this.config.maxClockSkewMs,
      maxClockDriftMs: this.config.maxClockDriftMs,
      tombstoneTtlMs: this.config.tombstoneTtlMs,
      conflictResolution: options.merge ?? this.config.conflictResolution,
    });
    if (this.restored !== undefined) this.store.restore(this.restored.entries, this.restored.head);
    this.preservation = new SelfPreservation({
      threshold: this.config.selfPreservationThreshold,
      windowMs: this.config.selfPreservationWindowMs,
      minLeases: this.config.selfPreservationMinLeases,
      maxFreezeMs: this.config.selfPreservationMaxMs,
    });
  }

  get id(): string {
    return this.config.id;
  }

  /** Ready: bootstrapped, serving, and connected to NATS (a node cut off serves nobody). */
  get isReady(): boolean {
    return this.lifecycle === "ready" && this.connected;
  }

  /** Lapsed leases waiting for a tombstone, and tombstones written here whose `expired` is owed. */
  get expiryBacklog(): { pending: number; unreported: number } {
    return {
      pending: this.expiry?.pendingCount ?? 0,
      unreported: this.expiry?.unreportedCount ?? 0,
    };
  }

  get connection(): NatsConnection {
    if (this.nc === undefined) throw new Error("node is not started");
    return this.nc;
  }

  /** The node's region and its view of the others; set once started. */
  get regions(): NodeRegions {
    if (this.regionView === undefined) throw new Error("node is not started");
    return this.regionView;
  }

  get syncEngine(): SyncEngine {
    if (this.sync === undefined) throw new Error("node is not started");
    return this.sync;
  }

  /** Where the node is in its life: only a `ready` node takes client requests. */
  get state(): NodeState {
    return this.lifecycle;
  }

  /**
   * Opens storage, binds HTTP, connects and syncs, then joins the client queue group once it
   * holds what its peers hold. A start that fails releases everything it took (no
   * subscription stays behind) and rejects with a StartFailure naming the setting at fault.
   */
  async start(): Promise<void> {
    try {
      await this.open();
    } catch (error) {
      this.stopping = true;
      await this.close();
      throw explainStartFailure(error, this.config);
    }
    // Stopped while it waited for NATS: nothing more to start.
    if (this.stopping || this.sync === undefined) return;
    await this.catchUp();
    if (this.stopping) return;
    // Caught up: the endpoints answer whatever reaches them from now on, even in the flush
    // round trip below, before the node reports ready.
    this.caughtUp = true;
    await this.service!.serve();
    if (this.stopping) return;
    // The endpoints' subscriptions leave with the next flush: wait for the server to hold them,
    // or a request sent as soon as start() resolves finds no responders.
    await this.nc?.flush();
    this.setState("ready");
    this.log.info({ entries: this.store.size, peers: this.sync!.peers.size }, "node ready");
  }

  private async open(): Promise<void> {
    if (this.restored === undefined) {
      await this.storage.initialise(this.store.epoch);
    } else {
      this.log.info(
        { entries: this.store.size, seq: this.store.seq, epoch: this.store.epoch },
        "restored from disk",
      );
    }
    // HTTP first: a taken address fails the start before this node touches NATS, and while
    // NATS cannot be reached the probes say so and the status page says why.
    if (this.config.httpListen !== "") {
      try {
        const { server, url } = await startHttpServer(this.config.httpListen, {
          metrics: this.metrics.registry,
          status: () => this.status(),
          healthy: () => !this.stopping && this.connected,
          ready: () => this.isReady,
          state: () => this.lifecycle,
          dashboard: {
            services: () => dashboardServices(this.store, this.leaseNow()),
            instances: (query) => dashboardInstances(this.store, query, this.leaseNow()),
            changes: () => dashboardChanges(this.store),
          },
        });
        this.http = server;
        this.httpUrl = url;
      } catch (error) {
        throw httpBindFailure(error, this.config.httpListen);
      }
    }
    const nc = await connectForStart(
      natsSettingsOf(this.config),
      (failure, attempt, retryInMs) => {
        this.connectionProblem = failure.reason;
        this.log.warn(
          { servers: failure.servers, cause: failure.reason, attempt, retryInMs },
          `cannot connect to NATS: ${failure.reason}`,
        );
      },
      () => this.stopping,
    );
    if (nc === undefined) return;
    this.nc = nc;
    this.setConnected(true, nc.getServer());
    void this.watchConnection(nc);
    const prefix = this.config.subjectPrefix;
    // Fixed at start: a node that fails over to another cluster's server keeps its region.
    const region = resolveRegion(this.config.region, nc.info?.cluster);
    this.publisher = new ChangePublisher(nc, prefix, this.id, (type) =>
      this.metrics.changePublished(type),
    );
    this.sync = new SyncEngine({
      transport: this.options.syncTransport ?? new NatsSyncTransport(nc),
      store: this.store,
      codec: this.codec,
      settings: { ...this.config, region },
      log: this.log,
      metrics: this.metrics,
      onApplied: (entries) => this.commitReplicated(entries),
      timers: this.options.timers ?? realTimersWithClock(this.wallClock),
      cursors: {
        initial: this.restored?.cursors ?? new Map(),
        save: (peer, epoch, cursor) => {
          if (this.storageClosed) return;
          // A cursor only saves a re-pull after a restart: a failed write costs that, never the
          // node (unhandled, the rejection would end the process).
          this.storage
            .saveCursor(peer, epoch, cursor)
            .catch((error: unknown) =>
              this.log.warn({ err: error, peer }, "saving a peer's cursor failed"),
            );
        },
      },
    });
    this.regionView = new NodeRegions(
      region,
      this.id,
      this.sync,
      this.config.regionHoldMs,
      this.wallClock,
    );
    this.sync.onBootstrapProgress((progress) => {
      for (const listener of this.bootstrapListeners) listener(progress);
    });
    const maxPayload = () => nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    const api = new RegistryApi({
      store: this.store,
      nodeId: this.id,
      maxRequestBytes: this.config.maxRequestBytes,
      commit: (entries) => this.commit(entries),
      onWrite: (event, instanceJson) => this.onLocalWrite(event, instanceJson),
      causal: new CausalWait({
        nodeId: this.id,
        epoch: () => this.store.epoch,
        peer: (node) => this.sync?.peers.get(node),
      }),
      forward: (node, endpoint, body) => this.forward(node, endpoint, body),
      // A stopping node has left the queue group and answers what it already took.
      ready: () => this.caughtUp,
      // Lookups judge leases by the lease clock, which self-preservation may freeze.
      wallClock: () => this.preservation.leaseClock(this.wallClock()),
      admission: new WriteAdmission(this.config, this.store, this.wallClock),
      replyBudget: () => replyBudget(maxPayload()),
      regions: this.regionView,
    });
    const replies = new ReplyGuard(this.config.replyPrefixes);
    const rejections = new RejectionLog(this.log);
    this.sync.start();
    this.service = await startClientService(nc, {
      prefix,
      nodeId: this.id,
      api,
      metrics: this.metrics,
      log: this.log,
      replies,
      rejections,
      maxPayload,
    });
    this.forwardSub = serveForwarded(nc, syncSubjects(prefix).forward(this.id), api, this.log);
    this.statusSub = nc.subscribe(statusSubject(prefix), {
      callback: (err, msg) => {
        if (!err)
          answerStatus(msg, () => this.status(), {
            replies,
            rejections,
            metrics: this.metrics,
            maxPayload,
          });
      },
    });
    this.expiry = new LeaseExpiry({
      store: this.store,
      preservation: this.preservation,
      metrics: this.metrics,
      log: this.log,
      nodeId: this.id,
      wallClock: this.wallClock,
      sweepIntervalMs: this.config.sweepIntervalMs,
      maxFreezeMs: this.config.selfPreservationMaxMs,
      ready: () => this.isReady,
      commit: (entries) => this.commit(entries),
      announce: () => this.sync?.notifyChange(),
      publish: (event, instanceJson) => this.publisher?.publish(event, instanceJson),
      livePeers: (now) => this.sync!.livePeers(now).map((p) => p.id),
      knownPeers: () => this.sync!.knownPeers(),
      askVersions: (keys) => this.sync!.askVersions(keys),
      saveUnreported: (unreported) =>
        this.storageClosed ? Promise.resolve() : this.storage.saveUnreported(unreported),
      restoredUnreported: this.restored?.unreported,
      forget: (removed) => this.forget(removed),
      // Leases held by a region this node cannot hear are not its to expire
      // (docs/topologies.md), nor evidence of a network failure here.
      settleLapses: (lapsed, now) => this.regionView?.settleExpiries(lapsed, now) ?? lapsed,
    });
    this.expiry.start();
    const sync = this.sync;
    this.convergence = new ConvergenceLag(
      this.metrics.convergenceLag,
      () => sync.isConverged(),
      this.wallClock,
    );
    this.convergence.start(Math.min(this.config.sweepIntervalMs, 1_000));
    this.log.info(
      { epoch: this.store.epoch, region, servers: this.config.nats, http: this.httpUrl },
      "node started",
    );
  }

  /** Leaves the client queue group first (answering what it took), tells peers it leaves,
   * and closes the connection after draining. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.setState("stopping");
    await this.close();
    this.log.info("node stopped");
  }

  /** Releases whatever the node holds; safe on a half-opened node. */
  private async close(): Promise<void> {
    this.convergence?.stop();
    await this.expiry?.stop();
    this.statusSub?.unsubscribe();
    try {
      // Forwarded requests are client requests too: stop taking them with the queue group.
      // Draining needs a server: a node cut off from NATS just unsubscribes.
      if (this.connected) await this.forwardSub?.drain();
      else this.forwardSub?.unsubscribe();
    } catch (error) {
      this.log.debug({ err: error }, "forward drain");
    }
    try {
      await this.service?.stop();
    } catch (error) {
      this.log.debug({ err: error }, "service stop");
    }
    await this.sync?.stop();
    if (this.nc !== undefined && !this.nc.isClosed()) {
      try {
        // Draining needs a server; a node cut off from NATS closes instead of waiting for one.
        await (this.connected ? this.nc.drain() : this.nc.close());
      } catch (error) {
        this.log.debug({ err: error }, "drain");
      }
    }
    await new Promise<void>((resolve) =>
      this.http ? this.http.close(() => resolve()) : resolve(),
    );
    // Removals of collected entries run in the background; they must land before the store closes.
    await Promise.allSettled(this.removals);
    this.storageClosed = true;
    await this.storage.close();
  }

  status(): NodeStatus {
    return nodeStatus(this.store, this.sync, {
      version: VERSION,
      state: this.lifecycle,
      nats: {
        connected: this.connected,
        server: this.connectedServer,
        ...(this.connectionProblem === "" ? {} : { lastError: this.connectionProblem }),
      },
      ready: this.isReady,
      selfPreservation: this.preservation.active,
      startedAtMs: this.startedAtMs,
      nowMs: this.wallClock(),
      region: this.regionView?.region,
      regions: this.regionView?.freshness(),
    });
  }

  /** Hands a client request to the node that accepted the client's write (read-your-writes). */
  private forward(
    node: string,
    endpoint: ClientEndpoint,
    body: unknown,
  ): Promise<string | undefined> {
    if (this.nc === undefined || this.nc.isClosed()) return Promise.resolve(undefined);
    return forwardRequest(
      this.nc,
      syncSubjects(this.config.subjectPrefix).forward(node),
      endpoint,
      body,
    );
  }

  private setState(state: NodeState): void {
    if (this.lifecycle === state) return;
    this.lifecycle = state;
    this.service?.setState(state);
    this.log.debug({ state }, "lifecycle");
  }

  /**
   * Waits until this node holds what every live peer holds now. It asks every peer for its
   * current head first (saved cursors say only what a peer held when this node stopped), then
   * pulls, streams or reconciles until none of the peers that answered is ahead.
   */
  private async catchUp(): Promise<void> {
    const sync = this.sync!;
    const started = this.wallClock();
    const answered = await sync.askHeads();
    while (!this.stopping) {
      const pending = answered
        .map((id) => sync.peers.get(id))
        .filter((p) => p?.needsSync && p.state !== "suspect" && p.state !== "left");
      if (pending.length === 0) break;
      this.setState(sync.bootstrapping !== undefined ? "bootstrapping" : "catching-up");
      await sleep(READY_POLL_MS);
    }
    this.log.debug(
      { ms: this.wallClock() - started, peers: answered.length },
      "caught up with peers",
    );
  }

  /**
   * Calls `listener` with the entries applied from peers, once they are durable. For code that
   * embeds a node (local caches, benchmarks); returns a function that removes the listener.
   */
  onReplicated(listener: (entries: readonly Entry[]) => void): () => void {
    this.replicatedListeners.add(listener);
    return () => this.replicatedListeners.delete(listener);
  }

  /**
   * Calls `listener` as a bootstrap advances (after every page) and when it ends; for progress
   * displays. May be called before `start()`. Returns a function that removes the listener.
   */
  onBootstrapProgress(listener: (progress: BootstrapProgress) => void): () => void {
    this.bootstrapListeners.add(listener);
    return () => this.bootstrapListeners.delete(listener);
  }

  /** Leases are judged by the lease clock, which self-preservation may freeze. */
  private leaseNow(): number {
    return this.preservation.leaseClock(this.wallClock());
  }

  /** Makes entries durable before a write is acknowledged or a peer's cursor advances. */
  private commit(entries: readonly Entry[]): Promise<void> {
    // A pull answered while the node closes must not write to a closed store (lmdb would throw
    // outside any promise); the entries are simply pulled again after a restart.
    if (this.storageClosed) return Promise.reject(new Error("storage is closed"));
    return this.storage.commit(entries, this.store.seq);
  }

  private async commitReplicated(entries: readonly Entry[]): Promise<void> {
    await this.commit(entries);
    for (const listener of this.replicatedListeners) listener(entries);
  }

  private onLocalWrite(event: ChangeEvent | undefined, instanceJson?: string): void {
    if (event !== undefined) this.publisher?.publish(event, instanceJson);
    this.sync?.notifyChange();
  }

  private forget(removed: readonly Entry[]): void {
    if (removed.length === 0) return;
    const removal = this.storage
      .remove(removed)
      .catch((error: unknown) => this.log.warn({ err: error }, "forgetting collected entries"))
      .finally(() => this.removals.delete(removal));
    this.removals.add(removal);
  }

  private setConnected(connected: boolean, server: string): void {
    this.connected = connected;
    this.connectedServer = connected ? server : "";
    if (connected) this.connectionProblem = "";
    this.metrics.natsConnected.set(connected ? 1 : 0);
  }

  /** Follows the connection: the state feeds the probes, status and metrics; every loss, failed
   * reconnection and server error is logged with its cause. A clean stop logs nothing. */
  private async watchConnection(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (this.stopping) continue;
      const server = String(status.data);
      switch (status.type) {
        case "disconnect":
          this.setConnected(false, "");
          this.log.warn({ server }, "NATS connection lost; reconnecting");
          break;
        case "reconnect":
          this.setConnected(true, server);
          this.log.warn({ server }, "NATS connection restored");
          break;
        case "reconnecting":
          this.log.debug({ server }, "trying to reconnect to NATS");
          break;
        case "error":
          this.connectionProblem = connectFailureCause(status.data);
          this.log.warn({ cause: this.connectionProblem }, "NATS error");
          break;
      }
      if (status.type === "reconnect") this.sync?.onReconnect();
    }
  }
}

function newEpoch(): string {
  return randomBytes(8).toString("hex");
}
