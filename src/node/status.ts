import type { RegionFreshness, RegistryStore } from "../core/mod.js";
import type { BootstrapProgress } from "../sync/bootstrap-progress.js";
import type { SyncEngine } from "../sync/sync-engine.js";
import type { NodeState } from "./lifecycle.js";

/**
 * Most peers a status lists. Peers are whoever announced on the sync subject; a status must stay
 * a small NATS message however many ids were announced, so past this the rest are only counted.
 */
export const MAX_STATUS_PEERS = 256;

/** One node's view of itself and its peers: `regsync status`, `/status.json` and the status page. */
export interface NodeStatus {
  node: string;
  version: string;
  epoch: string;
  seq: number;
  digest: string;
  count: number;
  /** starting | bootstrapping | catching-up | ready | stopping (src/node/lifecycle.ts) */
  state: NodeState;
  ready: boolean;
  converged: boolean;
  selfPreservation: boolean;
  uptimeMs: number;
  /** The node's region, and how current it is with each region it knows (docs/topologies.md). */
  region?: string;
  regions?: Record<string, RegionFreshness>;
  /** The NATS connection now: while it is down the node serves nobody and is not ready. */
  nats: { connected: boolean; server: string; lastError?: string };
  /** Present while the node streams its initial state from a peer. */
  bootstrap?: BootstrapProgress;
  peers: PeerStatus[];
  /** Peers known but not listed (more than MAX_STATUS_PEERS); 0 when all are listed. */
  peersOmitted: number;
}

export interface PeerStatus {
  id: string;
  /** The region the peer announced, when it did. */
  region?: string | undefined;
  state: string;
  epoch: string;
  digest: string;
  digestMatch: boolean;
  count: number;
  /** The peer's newest announced seq, and how far our cursor is behind it. */
  seq: number;
  lag: number;
  lastSeenMsAgo: number;
  failures: number;
  totalFailures: number;
  lastPullLatencyMs: number;
}

export function nodeStatus(
  store: RegistryStore,
  sync: SyncEngine | undefined,
  extra: {
    version: string;
    state: NodeState;
    nats: NodeStatus["nats"];
    ready: boolean;
    selfPreservation: boolean;
    startedAtMs: number;
    nowMs: number;
    region?: string | undefined;
    regions?: Record<string, RegionFreshness> | undefined;
  },
): NodeStatus {
  const { digest, count } = store.digest();
  const liveness = sync?.livenessMs() ?? 0;
  const known = [...(sync?.peers.values() ?? [])];
  // Keep the live ones first: a flood of announced ids must not push real peers off the list.
  const listed = known.sort((a, b) => b.lastSeenMs - a.lastSeenMs).slice(0, MAX_STATUS_PEERS);
  const peers = listed
    .map((p) => ({
      id: p.id,
      region: p.region,
      state: p.stateAt(extra.nowMs, liveness),
      epoch: p.epoch,
      digest: p.digest,
      digestMatch: p.digest === digest,
      count: p.count,
      seq: p.announcedSeq,
      lag: Math.max(0, p.announcedSeq - p.cursor),
      lastSeenMsAgo: extra.nowMs - p.lastSeenMs,
      failures: p.failures,
      totalFailures: p.totalFailures,
      lastPullLatencyMs: Math.round(p.lastPullLatencyMs * 100) / 100,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  return {
    node: store.nodeId,
    version: extra.version,
    epoch: store.epoch,
    seq: store.seq,
    digest,
    count,
    state: extra.state,
    ready: extra.ready,
    converged: sync?.isConverged() ?? false,
    selfPreservation: extra.selfPreservation,
    uptimeMs: extra.nowMs - extra.startedAtMs,
    region: extra.region,
    regions: extra.regions,
    nats: extra.nats,
    bootstrap: sync?.bootstrapping,
    peers,
    peersOmitted: known.length - listed.length,
  };
}
