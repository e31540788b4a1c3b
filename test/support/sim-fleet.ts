import { pack, unpack } from "msgpackr";
import pino from "pino";
import {
  type Entry,
  type EntryRecord,
  type Instance,
  type MergeResult,
  RegistryStore,
} from "../../src/core/mod.js";
import type { SyncCodec } from "../../src/sync/codec.js";
import { fromTuples, toTuple } from "../../src/sync/entry-codec.js";
import { MemoryNetwork, type MemoryTransport } from "../../src/sync/memory-transport.js";
import type { PeerStateName } from "../../src/sync/peer.js";
import {
  SyncEngine as Engine,
  type SyncEngine,
  type SyncSettings,
} from "../../src/sync/sync-engine.js";
import type { ApplyPath, SyncMetrics } from "../../src/sync/sync-metrics.js";
import { VirtualTimers } from "../../src/sync/virtual-timers.js";

/** msgpack without the envelope: the simulation tests sync, the envelope has its own tests. */
export const PLAIN_CODEC: SyncCodec = {
  encode: (message) => {
    const bytes = pack(message);
    return { bytes, rawBytes: bytes.length };
  },
  decode: (bytes) => ({ message: unpack(bytes), rawBytes: bytes.length }),
};

/** Counts every event the engines report, so a run of schedules can show what it exercised. */
export class CountingMetrics implements SyncMetrics {
  readonly counts = new Map<string, number>();

  count(event: string, n = 1): void {
    this.counts.set(event, (this.counts.get(event) ?? 0) + n);
  }
  get(event: string): number {
    return this.counts.get(event) ?? 0;
  }
  announced(direction: "in" | "out", inline: boolean): void {
    this.count(`announce ${direction}${inline ? " inline" : ""}`);
  }
  pulled(outcome: "ok" | "failed" | "reset"): void {
    this.count(`pull ${outcome}`);
  }
  pullWaited(): void {}
  applied(path: ApplyPath, result: MergeResult): void {
    this.count(`applied ${path}`, result.applied.length);
  }
  rejected(reason: string): void {
    this.count(`rejected ${reason}`);
  }
  reconciled(outcome: "ok" | "failed"): void {
    this.count(`reconcile ${outcome}`);
  }
  bytes(): void {}
  peerStates(_counts: Readonly<Record<PeerStateName, number>>): void {}
}

const SILENT = pino({ level: process.env.REGSYNC_SIM_LOG ?? "silent" });

export interface SimNode {
  id: string;
  durable: boolean;
  store: RegistryStore;
  engine: SyncEngine;
  transport: MemoryTransport;
  /** Cursors a durable node keeps across restarts. */
  cursors: Map<string, { epoch: string; cursor: number }>;
  running: boolean;
}

export interface FleetOptions {
  seed: number;
  metrics: CountingMetrics;
  settings: SyncSettings;
  maxPayload: number;
  dropRate: number;
  duplicateRate: number;
  maxDelayMs: number;
  /** How long tombstones and expired leases are kept. */
  tombstoneTtlMs: number;
  /** Replaces the durable cursor store's write (a failing disk). */
  saveCursor?: (peer: string, epoch: string, cursor: number) => Promise<void> | void;
  /** Makes entries applied from peers durable on `node` (a slow or failing disk); at once by
   * default. */
  commit?: (node: string, entries: readonly Entry[]) => Promise<void> | void;
}

/**
 * A fleet of sync engines on one in-memory network and one virtual clock: each node a
 * RegistryStore and a SyncEngine, restartable as a durable node (keeping its entries, epoch
 * and cursors) or as a memory node (starting empty, with a new epoch).
 */
export class SimFleet {
  readonly timers: VirtualTimers;
  readonly network: MemoryNetwork;
  readonly nodes = new Map<string, SimNode>();
  private epochs = 0;

  constructor(readonly o: FleetOptions) {
    this.timers = new VirtualTimers(o.seed);
    this.network = new MemoryNetwork({
      timers: this.timers,
      minDelayMs: 0,
      maxDelayMs: o.maxDelayMs,
      dropRate: o.dropRate,
      duplicateRate: o.duplicateRate,
      maxPayload: o.maxPayload,
    });
  }

  get random(): () => number {
    return this.timers.random;
  }

  /** Starts a node; a durable node that ran before resumes from what it held. */
  start(id: string, durable: boolean): SimNode {
    const previous = this.nodes.get(id);
    const keep = durable && previous?.durable === true;
    const store = new RegistryStore({
      nodeId: id,
      epoch: keep ? previous.store.epoch : `${id}-${++this.epochs}`,
      wallClock: () => this.timers.now(),
      maxClockSkewMs: 60_000,
      tombstoneTtlMs: this.o.tombstoneTtlMs,
    });
    const cursors = keep ? previous.cursors : new Map<string, { epoch: string; cursor: number }>();
    if (keep) {
      const saved = [...previous.store.entries()]
        .map((e) => ({ ...recordOf(e), seq: e.seq }))
        .sort((a, b) => a.seq - b.seq);
      store.restore(saved, previous.store.seq);
    }
    const transport = this.network.connect(id);
    const engine = new Engine({
      transport,
      store,
      codec: PLAIN_CODEC,
      settings: this.o.settings,
      log: SILENT,
      metrics: this.o.metrics,
      timers: this.timers,
      onApplied: (entries) => this.o.commit?.(id, entries),
      cursors: {
        initial: new Map(cursors),
        save: (peer, epoch, cursor) => {
          if (this.o.saveCursor !== undefined) return this.o.saveCursor(peer, epoch, cursor);
          if (durable) cursors.set(peer, { epoch, cursor });
        },
      },
    });
    const node: SimNode = { id, durable, store, engine, transport, cursors, running: true };
    this.nodes.set(id, node);
    engine.start();
    return node;
  }

  /**
   * Stops a node: gracefully (it announces that it leaves) or by a crash (it just goes). The
   * engine's stop waits for requests in flight, which end on virtual time: it completes while
   * the simulation runs on.
   */
  stop(id: string, graceful: boolean): void {
    const node = this.nodes.get(id);
    if (node === undefined || !node.running) return;
    node.running = false;
    if (!graceful) node.transport.close();
    void node.engine.stop().finally(() => node.transport.close());
  }

  /** Stops every running node and lets virtual time run until their stops complete. */
  async stopAll(): Promise<void> {
    const stopping = this.running().map((n) => {
      n.running = false;
      return n.engine.stop();
    });
    let done = false;
    void Promise.all(stopping).finally(() => (done = true));
    await this.timers.runUntil(() => done, 60_000, 100);
  }

  running(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.running);
  }

  /** A write on `node`, announced as a client write would be. */
  register(node: SimNode, instance: Instance): void {
    node.store.register(instance);
    node.engine.notifyChange();
  }

  deregister(node: SimNode, service: string, id: string): void {
    if (node.store.deregister(service, id) !== undefined) node.engine.notifyChange();
  }

  heartbeat(node: SimNode, service: string, id: string): void {
    if (node.store.heartbeat(service, id) !== undefined) node.engine.notifyChange();
  }

  /** Each running node's view of the fleet, for the message of a failed schedule. */
  describe(): string {
    return this.running()
      .map((n) => {
        const peers = [...n.engine.peers.values()].map(
          (p) =>
            `${p.id}:${p.state}${p.pulling ? "+pulling" : ""}${p.reconcilePending ? "+recon" : ""} ${p.epoch}@${p.cursor}/${p.announcedSeq}`,
        );
        const { digest } = n.store.digest();
        return `${n.id} ${n.store.epoch} seq ${n.store.seq} size ${n.store.size} ${digest.slice(0, 8)} boot ${n.engine.bootstrapping?.peer ?? "-"} [${peers.join(", ")}]`;
      })
      .join("\n");
  }

  /** Whether every running node holds the same digest. */
  converged(): boolean {
    const digests = new Set(this.running().map((n) => n.store.digest().digest));
    return digests.size <= 1;
  }
}

/** An entry's replicated state, as a peer receives it: what must be equal on every node. */
export function recordOf(e: Entry): EntryRecord {
  return fromTuples([toTuple(e)])[0]!;
}

/** A node's whole state, in key order, comparable with deepEqual. */
export function stateOf(store: RegistryStore): EntryRecord[] {
  return [...store.entries()]
    .map(recordOf)
    .sort((a, b) => (a.service + a.id < b.service + b.id ? -1 : 1));
}
