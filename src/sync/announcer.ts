import type { Logger } from "pino";
import type { RegistryStore } from "../core/mod.js";
import { periodicInterval } from "./backoff.js";
import type { MessageCodec } from "./codec.js";
import { toTuple } from "./entry-codec.js";
import { headOf } from "./heads.js";
import type { Announce } from "./messages.js";
import type { SyncMetrics } from "./sync-metrics.js";
import type { SyncTimers, TimerHandle } from "./timers.js";
import type { SyncTransport } from "./transport.js";

/**
 * Digest announcements after merges wait this long, so a burst of merges costs one message.
 * Under steady writes every node sends one per delay: at 50 ms a 9-node fleet's traffic per
 * change grew by 70%; at 200 ms "converged" still shows within a fifth of a second, and a
 * peer's answer still comes well inside ECHO_WINDOW_MS.
 */
export const MERGED_ANNOUNCE_DELAY_MS = 200;

/**
 * Under sustained writes, announcements of our own writes leave at most this often: a peer's
 * cost is mostly per message and per commit, so fewer, fuller messages cut it. A write after a
 * quiet spell is still announced at once. 3 memory nodes, one client keeping 64 registrations
 * in flight: ~22 writes per announcement with this gap (`npm run bench -- writes` notes it);
 * with the gap patched to 0 (a one-off), 10.9 against 20.6 and 0.86× the fleet's CPU per
 * write. Durable nodes announce once per commit anyway, which spaces announcements as much.
 */
export const LOADED_ANNOUNCE_GAP_MS = 5;

export interface AnnouncerOptions {
  transport: SyncTransport;
  subject: string;
  store: RegistryStore;
  codec: MessageCodec;
  timers: SyncTimers;
  metrics: SyncMetrics;
  log: Logger;
  /** Coalescing delay after a write; 0 announces after the I/O already queued. */
  announceDelayMs: number;
  syncIntervalMs: number;
  inlineChangesMaxBytes: number;
  batchMaxEntries: number;
  /** Compression this node accepts in replies to its pulls. */
  accepts: readonly string[];
  /** This node's region, when it has one. */
  region?: string | undefined;
  /** Nodes in the fleet, this one included: the periodic interval stretches with it. */
  fleetSize: () => number;
  /** Runs after each periodic announcement (gauges). */
  onPeriodic?: () => void;
  /** Runs after an announcement that told peers of new writes of our own. */
  onOwnWritesAnnounced?: () => void;
}

/**
 * Tells the fleet this node's state (DESIGN.md §4.1): after local writes (coalesced, carrying
 * the new writes inline when they fit), periodically (jittered, the only announcements whose
 * digests peers compare), and once when leaving.
 */
export class Announcer {
  #pending = false;
  #mergedPending = false;
  #periodicTimer: TimerHandle | undefined;
  /** Our seq at the last announcement; the next one carries the changes after it inline. */
  #announcedSeq = 0;
  /** When our own writes were last announced (timers.now()). */
  #ownWritesAt = -Infinity;
  #stopped = false;

  constructor(private readonly o: AnnouncerOptions) {}

  start(): void {
    this.announce(false);
    this.schedulePeriodic();
  }

  /** A local write happened: announce it soon, coalesced with whatever follows within the delay. */
  notifyChange(): void {
    if (this.#pending || this.#stopped) return;
    this.#pending = true;
    const gap = this.#ownWritesAt + LOADED_ANNOUNCE_GAP_MS - this.o.timers.now();
    this.o.timers.setTimeout(
      () => {
        this.#pending = false;
        this.announce(false);
      },
      Math.max(this.o.announceDelayMs, gap),
    );
  }

  /**
   * Entries from peers were merged: tell the fleet our new digest soon, so every node can see
   * at once that it holds what its peers hold ("converged" is true within this delay of a
   * write, not a sync interval later). At most one such announcement per delay, however many
   * merges happen meanwhile; it carries no entries (we relay nothing), only the digest and seq.
   */
  notifyMerged(): void {
    if (this.#pending || this.#mergedPending || this.#stopped) return;
    this.#mergedPending = true;
    this.o.timers.setTimeout(() => {
      this.#mergedPending = false;
      if (!this.#pending) this.announce(false);
    }, MERGED_ANNOUNCE_DELAY_MS);
  }

  /**
   * Stops announcing; the last announcement tells peers we are leaving. Writes acknowledged
   * since the last announcement go out first, inline, as any announcement of ours would carry
   * them: a peer does not pull from a node that left, so without them the fleet would lack
   * those writes until this node came back (and never, if it does not).
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.o.timers.clearTimeout(this.#periodicTimer);
    if (this.o.transport.isClosed()) return;
    try {
      if (this.o.store.seq > this.#announcedSeq) this.publish(false, false);
      this.publish(true, false);
    } catch (error) {
      this.o.log.debug({ err: error }, "final announcement not sent");
    }
  }

  private announce(periodic: boolean): void {
    if (this.#stopped || this.o.transport.isClosed()) return;
    try {
      this.publish(false, periodic);
    } catch (error) {
      this.o.log.warn({ err: error }, "announcement failed");
    }
  }

  private publish(leaving: boolean, periodic: boolean): void {
    const { store } = this.o;
    const message: Announce = headOf(store, this.o.accepts);
    if (leaving) message.leaving = true;
    if (periodic) message.periodic = true;
    if (this.o.region !== undefined) message.region = this.o.region;
    let inline = false;
    let ownWrites = false;
    const wrote = !leaving && store.seq > this.#announcedSeq;
    // A node that knows no peer carries no entries: nobody would apply them, and rendering
    // them was 7.5% of a lone node's main thread. A peer it has not heard yet pulls what our
    // head shows it lacks, as it would after any gap. Its writes count as announced all the
    // same, so under load its announcements stay LOADED_ANNOUNCE_GAP_MS apart.
    if (wrote && this.o.fleetSize() === 1) ownWrites = true;
    else if (wrote && this.o.inlineChangesMaxBytes > 0) {
      // Only our own writes: every node announces its own, so relaying what we merged from
      // others would multiply traffic by the fleet size. Entries that miss a peer this way are
      // caught by pulls (which relay everything) and by the digest comparison.
      const page = store.changesSince(this.#announcedSeq, {
        onlyNode: store.nodeId,
        maxEntries: this.o.batchMaxEntries,
        maxBytes: this.o.inlineChangesMaxBytes,
      });
      ownWrites = !page.complete || page.records.length > 0;
      if (page.complete) {
        message.from = this.#announcedSeq;
        message.entries = page.records.map(toTuple);
        inline = true;
      }
    }
    this.#announcedSeq = store.seq;
    this.o.transport.publish(this.o.subject, this.o.codec.encode(message, false));
    this.o.metrics.announced("out", inline);
    if (ownWrites) {
      this.#ownWritesAt = this.o.timers.now();
      this.o.onOwnWritesAnnounced?.();
    }
  }

  private schedulePeriodic(): void {
    if (this.#stopped) return;
    const delay = periodicInterval(this.o.syncIntervalMs, this.o.fleetSize(), this.o.timers.random);
    this.#periodicTimer = this.o.timers.setTimeout(() => {
      this.announce(true);
      this.o.onPeriodic?.();
      this.schedulePeriodic();
    }, delay);
  }
}
