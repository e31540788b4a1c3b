import type { RegistryStore } from "../core/mod.js";
import type { MessageCodec } from "./codec.js";
import { HEADS_STALL_MS } from "./heads.js";
import {
  newNonce,
  PROTOCOL_VERSION,
  parseMessage,
  VersionsAnswerSchema,
  VersionsRequestSchema,
} from "./messages.js";
import { admitQuestion, type RequestGate } from "./request-freshness.js";
import type { SyncTransport, TransportMessage } from "./transport.js";

/**
 * The `versions` question (docs/protocol.md): which version of these keys does every node that
 * hears it hold? A node asks it before it reports an expiry, to know that the tombstone it wrote
 * is the one every node it hears holds (docs/watch.md).
 */

/** A key's version as a node holds it: [hlc, writer], or null when it holds none. */
export type HeldVersion = readonly [number, string] | null;

/** What each node that answered holds, by node id, one version per key asked, in order. */
export type HeldVersions = Map<string, readonly HeldVersion[]>;

export async function askVersions(
  transport: SyncTransport,
  subject: string,
  codec: MessageCodec,
  store: RegistryStore,
  keys: readonly (readonly [string, string])[],
  maxWaitMs: number,
): Promise<HeldVersions> {
  const held: HeldVersions = new Map();
  if (transport.requestAll === undefined || keys.length === 0) return held;
  const nonce = newNonce();
  const question = codec.encode(
    {
      type: "versions",
      v: PROTOCOL_VERSION,
      node: store.nodeId,
      keys: keys.map((k) => [...k]),
      nonce,
      at: store.clock.now(),
    },
    false,
  );
  const answers = await transport.requestAll(subject, question, {
    stallMs: HEADS_STALL_MS,
    maxWaitMs: Math.max(HEADS_STALL_MS, maxWaitMs),
  });
  for (const data of answers) {
    try {
      const answer = parseMessage(VersionsAnswerSchema, codec.decode(data));
      // An answer that does not cover every key asked says nothing reliable about any; one
      // that does not echo our nonce answered another question (a replay).
      if (
        answer.node !== store.nodeId &&
        answer.nonce === nonce &&
        answer.versions.length === keys.length
      )
        held.set(answer.node, answer.versions);
    } catch {
      // A malformed answer is no answer: the node counts as not heard.
    }
  }
  return held;
}

/** Answers a peer's versions question from the store, echoing its nonce; throws on a
 * malformed question, and on one `gate` refuses (which is left unanswered). */
export function answerVersions(
  msg: TransportMessage,
  store: RegistryStore,
  codec: MessageCodec,
  gate: RequestGate,
): void {
  const question = admitQuestion(msg, VersionsRequestSchema, codec, store.nodeId, gate);
  if (question === undefined) return;
  const versions = question.keys.map(([service, id]): HeldVersion => {
    const entry = store.get(service, id);
    return entry === undefined ? null : [entry.hlc, entry.node];
  });
  msg.respond(
    codec.encode(
      {
        type: "versions-answer",
        v: PROTOCOL_VERSION,
        node: store.nodeId,
        versions,
        nonce: question.nonce,
      },
      false,
    ),
  );
}
