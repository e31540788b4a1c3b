import type { RegistryStore } from "../core/mod.js";
import type { MessageCodec } from "./codec.js";
import { toTuple } from "./entry-codec.js";
import {
  type Batch,
  errorReply,
  PROTOCOL_VERSION,
  type PullRequest,
  PullRequestSchema,
  parseMessage,
  type Reset,
} from "./messages.js";
import { ADMIT_ALL, RefusedRequestError, type RequestGate } from "./request-freshness.js";

export interface PullServerLimits {
  /** This node's own cap on entries per batch. */
  batchMaxEntries: number;
  /** The raw size a batch may reach (see `maxBatchBytes`). */
  maxBatchBytes: number;
  /** The largest message the transport carries. */
  maxPayload: number;
}

/** A refused request (stale or replayed) gets no bytes at all: it costs O(1), and whoever
 * replays it learns nothing. */
export type PullAnswer =
  | { bytes: Uint8Array; halvings: number }
  | { bytes?: Uint8Array; rejected: unknown };

/**
 * Answers one pull request: a pure function of the request bytes and the store (it reads the
 * change log and encodes, nothing else), so every branch is tested without a network. A
 * request that fails validation is answered with an error reply, so the puller fails at once
 * instead of waiting for its timeout; `rejected` carries the reason for the metrics. A request
 * `gate` refuses (not fresh) is not answered.
 */
export function answerPull(
  data: Uint8Array,
  store: RegistryStore,
  codec: MessageCodec,
  limits: PullServerLimits,
  gate: RequestGate = ADMIT_ALL,
): PullAnswer {
  let request: PullRequest;
  try {
    request = parseMessage(PullRequestSchema, codec.decode(data));
    gate.admit(request);
  } catch (error) {
    if (error instanceof RefusedRequestError) return { rejected: error };
    return { bytes: codec.encode(errorReply(store.nodeId, error), false), rejected: error };
  }
  const compress = request.accepts.includes("deflate");
  // An empty epoch with since 0 is a first pull: any history of ours serves it.
  if (request.epoch !== store.epoch && !(request.epoch === "" && request.since === 0)) {
    const reset: Reset = {
      type: "reset",
      v: PROTOCOL_VERSION,
      node: store.nodeId,
      epoch: store.epoch,
      head: store.seq,
      nonce: request.nonce,
      since: request.since,
    };
    return { bytes: codec.encode(reset, compress), halvings: 0 };
  }
  let maxEntries = Math.min(request.maxEntries, limits.batchMaxEntries);
  const maxBytes = Math.min(request.maxBytes, limits.maxBatchBytes);
  // The byte bound is an estimate; if the encoded batch still exceeds the transport's limit,
  // halve the entry count until it fits.
  for (let halvings = 0; ; halvings++) {
    const page = store.changesSince(request.since, {
      onlyNode: request.originOnly ? store.nodeId : undefined,
      maxEntries,
      maxBytes,
    });
    const batch: Batch = {
      type: "batch",
      v: PROTOCOL_VERSION,
      node: store.nodeId,
      epoch: store.epoch,
      since: request.since,
      cursor: page.cursor,
      head: store.seq,
      complete: page.complete,
      entries: page.records.map(toTuple),
      nonce: request.nonce,
    };
    const bytes = codec.encode(batch, compress);
    if (bytes.length <= limits.maxPayload || maxEntries === 1) return { bytes, halvings };
    maxEntries = Math.max(1, maxEntries >> 1);
  }
}

/** How many times max_payload a compressed batch may hold before encoding. */
const COMPRESSED_BATCH_FACTOR = 4;
/** Room left in a message for the envelope header and the msgpack framing of a batch. */
const PAYLOAD_HEADROOM_BYTES = 8 * 1024;

/**
 * The raw (uncompressed) size a batch may reach. Deflated registry entries shrink about
 * tenfold, so with compression a batch may hold several times the transport's max_payload;
 * the encoded batch is still checked against max_payload, and halved until it fits.
 */
export function maxBatchBytes(
  batchMaxBytes: number,
  maxPayload: number,
  compression: "deflate" | "none",
): number {
  const ceiling = compression === "deflate" ? COMPRESSED_BATCH_FACTOR * maxPayload : maxPayload;
  return Math.max(1024, Math.min(batchMaxBytes, ceiling - PAYLOAD_HEADROOM_BYTES));
}
