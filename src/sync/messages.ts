import { randomBytes } from "node:crypto";
import { z } from "zod";
import { NODE_ID } from "../contract/ids.js";
import { NamedError } from "../core/named-error.js";
import { REGION_NAME } from "../core/region.js";

/**
 * The sync protocol's messages (docs/protocol.md). Each travels msgpack-encoded inside the
 * envelope of src/wire, told apart by `type`; every field is checked here before use.
 * PROTOCOL_VERSION only grows; a node refuses messages from a newer major version.
 */
export const PROTOCOL_VERSION = 3;
/**
 * The oldest version this node syncs with. v2 hashes the whole entry (body and lease, not only
 * key and version), so a v1 node's digests and fingerprints never match a v2 node's: syncing
 * with it would reconcile forever. v3 requests carry a stamp and a nonce the server checks for
 * freshness, which a v2 node does not send. Older messages are refused by name instead.
 */
export const MIN_PROTOCOL_VERSION = 3;

/** What each version added, for the refusal of an older peer. */
const ADDED_IN: Record<number, string> = {
  2: "entry hashes cover bodies and leases",
  3: "requests carry a fresh stamp and nonce",
};

/** Field bounds, shared with the one-pass announcement check (announce-fast-path.ts). */
export const MAX_EPOCH_CHARS = 64;
export const DIGEST_HEX = /^[0-9a-f]{32}$/;
export const NONCE_HEX = /^[0-9a-f]{16}$/;
export const MAX_ACCEPTS = 8;
export const MAX_ACCEPT_CHARS = 16;

const nodeId = z.string().regex(NODE_ID);
const epoch = z.string().min(1).max(MAX_EPOCH_CHARS);
const seq = z.int().min(0);
const digest = z.string().regex(DIGEST_HEX);
/** 64 random bits a request carries and its reply echoes: a reply captured earlier and played
 * to a later request (a pull of a restarting node, a reconciliation) does not carry it. */
export const nonce = z.string().regex(NONCE_HEX);
/** Compression a node accepts in replies to its pulls. */
const accepts = z.array(z.string().max(MAX_ACCEPT_CHARS)).max(MAX_ACCEPTS).default([]);

export function newNonce(): string {
  return randomBytes(8).toString("hex");
}

/** What every request carries to be judged fresh (request-freshness.ts): a nonce its reply
 * echoes, and `at`, when it was sent as the requester's hybrid logical clock. */
export const requestFreshness = { nonce, at: z.int().min(0) };

/** Entry tuples, checked one by one by entry-codec.ts: the schema only makes sure of the array,
 * rather than walking and copying thousands of elements it has nothing to say about. */
const entryTuples = z.custom<unknown[]>((value) => Array.isArray(value), "expected an array");

/** "My state is (digest, count) at seq, and here is what changed since `from`." */
export const AnnounceSchema = z.object({
  type: z.literal("announce"),
  v: z.int().min(1),
  node: nodeId,
  epoch,
  seq,
  digest,
  count: z.int().min(0),
  /** Inline changes cover (from, seq]; absent when they did not fit. */
  from: seq.optional(),
  entries: entryTuples.optional(),
  /** Compression the sender accepts in replies to its pulls. */
  accepts,
  /** The node is stopping; peers may stop pulling from it. */
  leaving: z.boolean().optional(),
  /** A periodic announcement (not one sent for a change): only these compare digests. */
  periodic: z.boolean().optional(),
  /** The sender's region (docs/topologies.md); absent from nodes that predate regions. */
  region: z.string().regex(REGION_NAME).optional(),
  /** When it was sent, as the sender's hybrid logical clock: strictly increasing per sender,
   * across restarts and epochs, so a receiver drops any announcement not newer than the last
   * it took from that sender (a replay) in O(1). */
  at: z.int().min(0),
  /** Only in an answer to a heads question: the question's nonce, echoed. */
  nonce: nonce.optional(),
});
export type Announce = z.output<typeof AnnounceSchema>;

/** "What is your head now?": asked by a starting node, answered by every live node with an
 * announcement (no inline entries), so the asker does not trust stale saved cursors. */
export const HeadsRequestSchema = z.object({
  type: z.literal("heads"),
  v: z.int().min(1),
  node: nodeId,
  ...requestFreshness,
});
export type HeadsRequest = z.output<typeof HeadsRequestSchema>;

/** Most keys one `versions` question names: a sweep's unreported expiries go in rounds. */
export const MAX_VERSION_KEYS = 512;

/** "Which version of these keys do you hold?": asked by a node before it reports an expiry
 * (docs/watch.md), answered by every node that hears it. Keys are [service, id]. */
export const VersionsRequestSchema = z.object({
  type: z.literal("versions"),
  v: z.int().min(1),
  node: nodeId,
  keys: z
    .array(z.tuple([z.string().min(1).max(256), z.string().min(1).max(256)]))
    .max(MAX_VERSION_KEYS),
  ...requestFreshness,
});
export type VersionsRequest = z.output<typeof VersionsRequestSchema>;

/** One version per key asked, in order: [hlc, writer], or null for a key not held. */
export const VersionsAnswerSchema = z.object({
  type: z.literal("versions-answer"),
  v: z.int().min(1),
  node: nodeId,
  versions: z.array(z.tuple([z.int().min(0), nodeId]).nullable()).max(MAX_VERSION_KEYS),
  /** The question's nonce, echoed: an answer captured earlier vouches for nothing now. */
  nonce: nonce.optional(),
});
export type VersionsAnswer = z.output<typeof VersionsAnswerSchema>;

/** "Send me what changed after `since` in your epoch `epoch`." */
export const PullRequestSchema = z.object({
  type: z.literal("pull"),
  v: z.int().min(1),
  node: nodeId,
  /** The epoch the cursor belongs to; a different epoch on the server answers `reset`. */
  epoch: z.string().max(64),
  since: seq,
  maxEntries: z.int().min(1).max(100_000),
  maxBytes: z
    .int()
    .min(1024)
    .max(64 << 20),
  /** Only entries the server itself wrote (the normal case); false on a bootstrap, which takes
   * everything. Either way the puller gets the newest version of each key. */
  originOnly: z.boolean(),
  accepts,
  ...requestFreshness,
});
export type PullRequest = z.output<typeof PullRequestSchema>;

export const BatchSchema = z.object({
  type: z.literal("batch"),
  v: z.int().min(1),
  node: nodeId,
  epoch,
  since: seq,
  /** Resume from here; `head` is the server's newest seq when the batch was cut. */
  cursor: seq,
  head: seq,
  complete: z.boolean(),
  entries: entryTuples,
  /** The request's nonce: this batch answers that request and no other. Optional in the
   * schema so that a reply without it is told apart (`stale`) from a malformed one. */
  nonce: nonce.optional(),
});
export type Batch = z.output<typeof BatchSchema>;

/** The cursor's epoch is gone (the server lost its history): start over from 0 in `epoch`. */
export const ResetSchema = z.object({
  type: z.literal("reset"),
  v: z.int().min(1),
  node: nodeId,
  epoch,
  head: seq,
  /** The request's nonce and `since`, echoed (a reply without them is `stale`). */
  nonce: nonce.optional(),
  since: seq.optional(),
});
export type Reset = z.output<typeof ResetSchema>;

/**
 * "I cannot serve that request": the answer to a request that failed validation or could not
 * be served, so the requester fails at once instead of waiting for its timeout.
 */
export const ErrorReplySchema = z.object({
  type: z.literal("error"),
  v: z.int().min(1),
  node: nodeId,
  message: z.string().max(1024),
});
export type ErrorReply = z.output<typeof ErrorReplySchema>;

export function errorReply(node: string, error: unknown): ErrorReply {
  const message = error instanceof Error ? error.message : String(error);
  return { type: "error", v: PROTOCOL_VERSION, node, message: message.slice(0, 1024) };
}

export const PullReplySchema = z.discriminatedUnion("type", [
  BatchSchema,
  ResetSchema,
  ErrorReplySchema,
]);
export type PullReply = z.output<typeof PullReplySchema>;

/**
 * A reply that does not echo the nonce (and `since`) of the request it claims to answer: a
 * replay of an earlier reply, or one meant for another request. Counted as `stale`.
 */
export class StaleReplyError extends NamedError {}

/** Throws a StaleReplyError unless `reply` echoes `nonce` (and `since`, when given). */
export function checkEcho(
  reply: { nonce?: unknown; since?: unknown },
  nonce: string,
  since?: number,
): void {
  if (reply.nonce !== nonce || (since !== undefined && reply.since !== since)) {
    throw new StaleReplyError(
      `reply echoes nonce ${String(reply.nonce)} since ${String(reply.since)}; the request had ${nonce} since ${since ?? "-"}`,
    );
  }
}

/** A sync message failed validation; counted as a rejected batch with reason `invalid`. */
export class InvalidMessageError extends NamedError {}

/**
 * The message as `schema` parses it, from a supported protocol version. `fastPath` may answer
 * first for a well-formed message (undefined: not sure, the schema decides).
 */
export function parseMessage<S extends z.ZodType>(
  schema: S,
  value: unknown,
  fastPath?: (value: unknown) => z.output<S> | undefined,
): z.output<S> {
  let data = fastPath?.(value);
  if (data === undefined) {
    const result = schema.safeParse(value);
    if (!result.success) {
      const first = result.error.issues[0];
      throw new InvalidMessageError(
        `invalid sync message: ${first ? `${first.path.join(".") || "(root)"}: ${first.message}` : "unknown"}`,
      );
    }
    data = result.data;
  }
  const message = data as { v: number; node?: string };
  if (Math.floor(message.v) > PROTOCOL_VERSION) {
    throw new InvalidMessageError(
      `sync protocol v${message.v} is newer than this node's v${PROTOCOL_VERSION}`,
    );
  }
  if (message.v < MIN_PROTOCOL_VERSION) {
    throw new InvalidMessageError(
      `node ${message.node ?? "?"} speaks sync protocol v${message.v}; this node needs at least v${MIN_PROTOCOL_VERSION} (${missedSince(message.v)}): upgrade it`,
    );
  }
  return data;
}

/** What a peer of version `v` lacks, newest change last. */
function missedSince(v: number): string {
  const missed: string[] = [];
  for (let version = Math.max(1, Math.floor(v)) + 1; version <= MIN_PROTOCOL_VERSION; version++)
    if (ADDED_IN[version] !== undefined) missed.push(`${ADDED_IN[version]} since v${version}`);
  return missed.join("; ");
}
