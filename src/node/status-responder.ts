import type { Msg } from "nats";
import { utf8 } from "../wire/utf8.js";
import type { NodeMetrics } from "./metrics.js";
import type { RejectionLog } from "./rejection-log.js";
import type { ReplyGuard } from "./reply-guard.js";
import type { NodeStatus } from "./status.js";

/**
 * Answers `registry.status` (every node answers; no queue group). Like the client API, only to
 * an inbox, and never with more than the server carries: a status too large for max_payload
 * (it is bounded, see MAX_STATUS_PEERS) is answered with its peer list cut, not dropped.
 */
export function answerStatus(
  msg: Msg,
  status: () => NodeStatus,
  guard: {
    replies: ReplyGuard;
    rejections: RejectionLog;
    metrics: NodeMetrics;
    maxPayload: () => number;
  },
): void {
  if (msg.reply === undefined || msg.reply === "") return;
  if (!guard.replies.allows(msg.reply)) {
    guard.metrics.requestsDropped.inc({ endpoint: "status", reason: "reply_subject" });
    guard.rejections.rejected(
      "reply_subject",
      { endpoint: "status" },
      "status request dropped: its reply subject is not under a configured inbox prefix",
    );
    return;
  }
  const current = status();
  let reply = utf8(JSON.stringify(current));
  const limit = guard.maxPayload();
  while (reply.length > limit && current.peers.length > 0) {
    const keep = Math.floor(current.peers.length / 2);
    current.peersOmitted += current.peers.length - keep;
    current.peers = current.peers.slice(0, keep);
    reply = utf8(JSON.stringify(current));
  }
  try {
    msg.respond(reply);
  } catch {
    // The connection closed meanwhile; the requester gathers the other nodes' answers.
  }
}
