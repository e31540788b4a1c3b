import type { MsgHdrs } from "nats";
import { CHANGE_HEADERS } from "../contract/headers.js";

/** Where one publishing node's notifications for the watched service have got to. */
interface FeedPosition {
  epoch: string;
  seq: number;
  /** Newest version received from this node: what it publishes next is (about) newer. */
  version: number;
}

/** The numbering headers of one notification; undefined when missing or malformed. */
export interface FeedHeaders {
  node: string;
  epoch: string;
  seq: number;
}

export function feedHeaders(headers: MsgHdrs | undefined): FeedHeaders | undefined {
  if (headers === undefined) return undefined;
  const node = headers.get(CHANGE_HEADERS.node);
  const epoch = headers.get(CHANGE_HEADERS.epoch);
  const seq = Number(headers.get(CHANGE_HEADERS.seq));
  if (node === "" || epoch === "" || !Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { node, epoch, seq };
}

/** What a notification means for the watch's completeness. */
export type FeedVerdict =
  | { kind: "next" }
  | { kind: "duplicate" }
  /** Notifications were lost; everything missed is newer than `since`. */
  | { kind: "gap"; since: number };

/**
 * Gap detection for one service's change feed: each publishing node numbers its notifications
 * per service within an epoch that changes when the node restarts, so a skipped number, or a new
 * epoch that does not start at 1, is a lost notification. Writes to other services are numbered
 * apart and never look like a gap. Pure: the watch feeds it headers and versions.
 */
export class FeedTracker {
  private readonly feeds = new Map<string, FeedPosition>();

  observe(h: FeedHeaders, version: number): FeedVerdict {
    const feed = this.feeds.get(h.node);
    if (feed === undefined) {
      // A node not heard from since the watch began: what it published before is in the
      // snapshot, or reaches the watch through the resync that another gap or the timer makes.
      this.feeds.set(h.node, { epoch: h.epoch, seq: h.seq, version });
      return { kind: "next" };
    }
    if (feed.epoch !== h.epoch) {
      // The node restarted: its new numbering starts at 1, so anything else means we lost some.
      const verdict: FeedVerdict =
        h.seq === 1 ? { kind: "next" } : { kind: "gap", since: feed.version };
      this.feeds.set(h.node, {
        epoch: h.epoch,
        seq: h.seq,
        version: Math.max(version, feed.version),
      });
      return verdict;
    }
    if (h.seq <= feed.seq) return { kind: "duplicate" };
    const verdict: FeedVerdict =
      h.seq === feed.seq + 1 ? { kind: "next" } : { kind: "gap", since: feed.version };
    feed.seq = h.seq;
    if (version > feed.version) feed.version = version;
    return verdict;
  }
}
