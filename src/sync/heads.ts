import type { RegistryStore } from "../core/mod.js";
import type { MessageCodec } from "./codec.js";
import { type Announce, HeadsRequestSchema, newNonce, PROTOCOL_VERSION } from "./messages.js";
import { admitQuestion, type RequestGate } from "./request-freshness.js";
import type { SyncTransport, TransportMessage } from "./transport.js";

/**
 * The `heads` question (docs/protocol.md): a starting node asks every live node for its head,
 * so it decides whether it must catch up from what peers hold now, not from the cursors it
 * saved when it stopped. Every node answers with an announcement that carries no entries.
 */

/** The question ends this long after the last answer: peers answer at once, so a gap this
 * long means every live peer has. */
export const HEADS_STALL_MS = 150;

/** This node's head: epoch, seq, digest and count, as every announcement carries them. */
export function headOf(store: RegistryStore, accepts: readonly string[]): Announce {
  const { digest, count } = store.digest();
  return {
    type: "announce",
    v: PROTOCOL_VERSION,
    node: store.nodeId,
    epoch: store.epoch,
    seq: store.seq,
    digest,
    count,
    accepts: [...accepts],
    // Stamped like every announcement, so a replayed answer is as stale as a replayed announcement.
    at: store.clock.now(),
  };
}

/** Asks every node for its head; resolves with the answers (encoded announcements), each of
 * which must echo `nonce`. A transport that cannot gather many replies, or a fleet with no
 * other node, yields none. */
export async function askHeads(
  transport: SyncTransport,
  subject: string,
  codec: MessageCodec,
  store: RegistryStore,
  maxWaitMs: number,
): Promise<{ nonce: string; answers: Uint8Array[] }> {
  const nonce = newNonce();
  if (transport.requestAll === undefined) return { nonce, answers: [] };
  const question = codec.encode(
    { type: "heads", v: PROTOCOL_VERSION, node: store.nodeId, nonce, at: store.clock.now() },
    false,
  );
  const answers = await transport.requestAll(subject, question, {
    stallMs: HEADS_STALL_MS,
    maxWaitMs: Math.max(HEADS_STALL_MS, maxWaitMs),
  });
  return { nonce, answers };
}

/** Answers a peer's heads question with our head, echoing its nonce; throws on a malformed
 * question, and on one `gate` refuses (which is left unanswered). */
export function answerHeads(
  msg: TransportMessage,
  store: RegistryStore,
  codec: MessageCodec,
  accepts: readonly string[],
  gate: RequestGate,
): void {
  const question = admitQuestion(msg, HeadsRequestSchema, codec, store.nodeId, gate);
  if (question === undefined) return;
  msg.respond(codec.encode({ ...headOf(store, accepts), nonce: question.nonce }, false));
}
