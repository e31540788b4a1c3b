import type { Msg } from "nats";
import { changesSubject } from "../contract/subjects.js";
import type { RegisteredInstance, RegistryClient, SnapshotReply } from "./client.js";
import { FeedTracker, feedHeaders } from "./watch-feed.js";
import { type WatchEvent, WatchView } from "./watch-view.js";

export type { WatchEvent, WatchEventType } from "./watch-view.js";

export type ChangeCallback = (event: WatchEvent) => void;

export interface WatchOptions {
  /** Also resynchronise this often, whatever happened (catches a lost last notification).
   * @default 30000 */
  resyncIntervalMs?: number;
  /** Called when a resynchronisation fails (it is retried at the next trigger). */
  onError?: (error: unknown) => void;
}

/** Why a watch resynchronised. */
export type ResyncReason = "start" | "gap" | "reconnect" | "interval";

export interface WatchStats {
  /** Resynchronisations by reason, the initial snapshot included under `start`. */
  resyncs: Record<ResyncReason, number>;
  /** Resyncs the node answered with the whole service rather than what changed. */
  fullReplies: number;
  /** Bytes of every snapshot reply received, of the initial one, and of the last one. */
  resyncBytes: number;
  startBytes: number;
  /** Bytes of snapshot replies by the reason of the resync. */
  bytesByReason: Record<ResyncReason, number>;
  lastResyncBytes: number;
  /** Notifications dropped because they lacked the numbering headers or were malformed. */
  ignored: number;
  /** Numbering gaps seen (lost notifications). */
  gaps: number;
}

export interface Watch {
  /** The watcher's current view of the service's live instances. */
  instances(): RegisteredInstance[];
  /** Snapshots taken: the initial one, then resyncs (gaps, reconnects, the periodic one). */
  readonly resyncs: number;
  /** Notifications ignored for missing or malformed numbering headers or body. */
  readonly ignored: number;
  stats(): WatchStats;
  stop(): void;
}

/** A resync asks from a little before the version it must cover: a node publishes its writes in
 * the order their commits finish, which may differ from their versions by a commit's time. */
const SINCE_MARGIN = 2_000 * 1024;
const EVENT_TYPES = new Set(["registered", "updated", "deregistered", "expired"]);
const decoder = new TextDecoder();

/**
 * The reliable watch (docs/watch.md): subscribe, then take a snapshot, and merge notifications
 * and snapshot replies into one view by version. Each publishing node numbers its notifications
 * per service, so a skipped number is a lost message: the watch then asks for what changed
 * since the version it missed from (a differential snapshot), as it does after a reconnect and
 * periodically. Notifications without the numbering headers are ignored and counted.
 */
export async function watchService(
  client: RegistryClient,
  service: string,
  callback: ChangeCallback,
  options: WatchOptions = {},
): Promise<Watch> {
  const view = new WatchView(service);
  const feeds = new FeedTracker();
  const stats: WatchStats = {
    resyncs: { start: 0, gap: 0, reconnect: 0, interval: 0 },
    fullReplies: 0,
    resyncBytes: 0,
    startBytes: 0,
    bytesByReason: { start: 0, gap: 0, reconnect: 0, interval: 0 },
    lastResyncBytes: 0,
    ignored: 0,
    gaps: 0,
  };
  let stopped = false;
  /** Where the last snapshot reply left off: the answering node's clock when it answered. */
  let baseline: number | undefined;
  let running: Promise<void> | undefined;
  /** A resync asked for while one was in flight: its reason and how far back it must reach. */
  let queued: { reason: ResyncReason; since: number | undefined } | undefined;

  const emit = (event: WatchEvent | undefined) => {
    if (event !== undefined && !stopped) callback(event);
  };

  const lowest = (a: number | undefined, b: number | undefined) =>
    a === undefined ? b : b === undefined ? a : Math.min(a, b);

  /**
   * From where a reconnect or the safety net asks: the last reply's `at`. Whatever the answering
   * node held then is in the view; what was written later is newer, except writes that reach
   * nodes late (a partition), and those come with a numbering gap that asks from further back.
   * Asking from the oldest feed position instead would reach back to every node that ever left.
   */
  const everything = () => baseline;

  const runResync = async (reason: ResyncReason, since: number | undefined) => {
    stats.resyncs[reason]++;
    try {
      const asked =
        since === undefined || baseline === undefined
          ? undefined
          : Math.max(0, since - SINCE_MARGIN);
      const reply: SnapshotReply = await client.snapshotSince(service, asked);
      stats.resyncBytes += reply.bytes;
      stats.lastResyncBytes = reply.bytes;
      if (reason === "start") stats.startBytes += reply.bytes;
      stats.bytesByReason[reason] += reply.bytes;
      if (reply.full) stats.fullReplies++;
      for (const event of view.merge(reply)) emit(event);
      baseline = Math.max(baseline ?? 0, reply.at ?? reply.asOf);
    } catch (error) {
      options.onError?.(error);
    }
  };

  const resync = (reason: ResyncReason, since: number | undefined): Promise<void> => {
    if (running !== undefined) {
      queued = {
        reason: queued?.reason ?? reason,
        since: queued === undefined ? since : lowest(queued.since, since),
      };
      return running;
    }
    running = (async () => {
      await runResync(reason, since);
      while (queued !== undefined && !stopped) {
        const next = queued;
        queued = undefined;
        await runResync(next.reason, next.since);
      }
      running = undefined;
    })();
    return running;
  };

  const handle = (msg: Msg) => {
    const numbering = feedHeaders(msg.headers);
    const event = parseEvent(msg.data, service);
    if (numbering === undefined || event === undefined) {
      stats.ignored++;
      return;
    }
    const verdict = feeds.observe(numbering, event.version);
    if (verdict.kind === "gap") {
      stats.gaps++;
      void resync("gap", verdict.since);
    }
    emit(view.apply(event));
  };

  const subscription = client.nc.subscribe(changesSubject(client.prefix, service), {
    callback: (err, msg) => {
      if (!err && !stopped) handle(msg);
    },
  });
  // The subscription must be in place at the server before the snapshot is taken, or a change
  // made in between would be in neither. What arrives meanwhile merges by version.
  await client.nc.flush();
  await resync("start", undefined);

  const timer = setInterval(
    () => void resync("interval", everything()),
    options.resyncIntervalMs ?? 30_000,
  );
  timer.unref();
  void (async () => {
    for await (const status of client.nc.status()) {
      if (stopped) return;
      if (status.type === "reconnect") void resync("reconnect", everything());
    }
  })();

  return {
    instances: () => view.instances(),
    get resyncs() {
      const r = stats.resyncs;
      return r.start + r.gap + r.reconnect + r.interval;
    },
    get ignored() {
      return stats.ignored;
    },
    stats: () => ({
      ...stats,
      resyncs: { ...stats.resyncs },
      bytesByReason: { ...stats.bytesByReason },
    }),
    stop() {
      stopped = true;
      clearInterval(timer);
      subscription.unsubscribe();
    },
  };
}

/** A notification's body, if it is one for this service. */
function parseEvent(data: Uint8Array, service: string): Omit<WatchEvent, "synthetic"> | undefined {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const e = body as Record<string, unknown>;
  if (
    !EVENT_TYPES.has(e.type as string) ||
    e.service !== service ||
    typeof e.id !== "string" ||
    !Number.isSafeInteger(e.version) ||
    (e.instance !== null && typeof e.instance !== "object")
  )
    return undefined;
  return e as unknown as Omit<WatchEvent, "synthetic">;
}
