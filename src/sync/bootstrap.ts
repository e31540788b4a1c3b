import type { Logger } from "pino";
import type { RegistryStore } from "../core/mod.js";
import { type BootstrapProgress, bootstrapProgress, fractionDone } from "./bootstrap-progress.js";
import type { PeerState } from "./peer.js";
import type { PeerTable } from "./peer-table.js";

/** Progress is logged at most this often during a bootstrap. */
const PROGRESS_LOG_INTERVAL_MS = 1_000;

/**
 * Bootstrap: an empty node streams the full state from one peer (the first with data), then
 * reconciles with the others, which costs the differences, not the registry. This file decides
 * when a bootstrap starts, reports its progress and ends it.
 */
export class Bootstrap {
  #peer: string | undefined;
  #startedMs = 0;
  #loggedMs = 0;
  readonly #listeners = new Set<(progress: BootstrapProgress) => void>();

  constructor(
    private readonly store: RegistryStore,
    private readonly peers: PeerTable,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /** The peer we stream from, while a bootstrap runs. */
  get peer(): string | undefined {
    return this.#peer;
  }

  /** Whether `peer` must wait before reconciling: reconciling against a half-streamed state
   * would list most of the registry as different. */
  blocks(peer: string): boolean {
    return this.#peer !== undefined && this.#peer !== peer;
  }

  /**
   * Our cursor into `peer` is void. An empty node with no bootstrap running streams
   * everything from it; in every other case a peer with data is reconciled with.
   */
  onNewHistory(peer: PeerState): void {
    if (this.store.size === 0 && this.#peer === undefined && peer.count > 0) {
      this.#peer = peer.id;
      this.#startedMs = this.now();
      this.#loggedMs = 0;
      this.log.info(
        { peer: peer.id, entries: peer.count },
        "bootstrapping: streaming the full state from one peer",
      );
      peer.skipReconcile();
    } else if (peer.count > 0 && (this.store.size > 0 || this.#peer !== undefined)) {
      peer.requireReconcile();
    }
  }

  /** A page from `peer` was applied; returns true when that ended the bootstrap. */
  onPage(peer: PeerState): boolean {
    if (this.#peer !== peer.id) return false;
    if (!peer.behind) {
      this.finish(true);
      return true;
    }
    const progress = this.progress!;
    for (const listener of this.#listeners) listener(progress);
    const now = this.now();
    if (now - this.#loggedMs < PROGRESS_LOG_INTERVAL_MS) return false;
    this.#loggedMs = now;
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
    return false;
  }

  /** `peer` became suspect; returns true when it was the bootstrap peer (the bootstrap failed). */
  onPeerFailed(peer: PeerState): boolean {
    if (this.#peer !== peer.id) return false;
    this.finish(false);
    return true;
  }

  /** Bootstrap progress for `regsync status` and readiness: undefined when not bootstrapping. */
  get progress(): BootstrapProgress | undefined {
    if (this.#peer === undefined) return undefined;
    return bootstrapProgress(
      this.#peer,
      this.store.size,
      this.peers.get(this.#peer)?.count ?? 0,
      this.now() - this.#startedMs,
    );
  }

  /**
   * Calls `listener` after every page of a bootstrap, and once more when it ends (state
   * `complete` or `failed`). Returns a function that removes it.
   */
  onProgress(listener: (progress: BootstrapProgress) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  private finish(complete: boolean): void {
    const progress = this.progress!;
    this.#peer = undefined;
    const final = { ...progress, state: complete ? "complete" : "failed" } as const;
    for (const listener of this.#listeners) listener(final);
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
  }
}
