import type { z } from "zod";
import { hlcWall } from "../core/mod.js";
import type { MessageCodec } from "./codec.js";
import { parseMessage } from "./messages.js";
import type { TransportMessage } from "./transport.js";

/**
 * Freshness of the requests a node answers (pull, reconcile, fetch, push, heads): a captured
 * signed request played again must cost the server O(1), never a batch. Each request carries
 * the requester's clock (`at`) and a random nonce; the server answers only requests stamped
 * within its window of its own wall clock, and each nonce once.
 *
 * Only meaningful in a signed fleet: without signatures anyone on the sync subjects can forge a
 * fresh request, so an unsigned node admits every request (`ADMIT_ALL`) and keeps no nonces.
 */

/** A request refused before any work: `stale` (stamped outside the window), `replayed` (its
 * nonce was answered already) or `too_many_requests` (a peer past the nonce bound). */
export class RefusedRequestError extends Error {
  constructor(
    readonly reason: "stale" | "replayed" | "too_many_requests",
    message: string,
  ) {
    super(message);
    this.name = "RefusedRequestError";
  }
}

/** What a request shows to be judged fresh. */
export interface StampedRequest {
  node: string;
  nonce: string;
  at: number;
}

export interface RequestGate {
  /** Throws a RefusedRequestError unless `request` is fresh; records its nonce when it is. */
  admit(request: StampedRequest): void;
}

export const ADMIT_ALL: RequestGate = { admit: () => {} };

/**
 * A question asked of every node (heads, versions), parsed and judged: undefined when nobody
 * waits for an answer or it is our own (the asker skips its own answer anyway); throws on a
 * malformed question and on one `gate` refuses, which is then left unanswered.
 */
export function admitQuestion<S extends z.ZodType>(
  msg: TransportMessage,
  schema: S,
  codec: MessageCodec,
  self: string,
  gate: RequestGate,
): (z.output<S> & StampedRequest) | undefined {
  if (msg.reply === undefined) return undefined;
  const question = parseMessage(schema, codec.decode(msg.data)) as z.output<S> & StampedRequest;
  if (question.node === self) return undefined;
  gate.admit(question);
  return question;
}

/** Nonces remembered per peer and per generation: far above what an honest peer sends in a
 * window (a bootstrap pulls a few pages a second), small enough to bound a faulty one. */
export const MAX_NONCES_PER_PEER = 65_536;

/**
 * Two generations of nonces per peer, rotated every two windows: a nonce is remembered at least
 * two windows after it was taken, which outlasts its stamp's acceptance (a stamp taken at most
 * one window early is refused as stale one window after it). Memory is bounded by what a peer
 * sends in four windows, capped by MAX_NONCES_PER_PEER per generation, and by `maxPeers`.
 */
export class RequestFreshness implements RequestGate {
  private readonly peers = new Map<string, NonceGenerations>();

  constructor(
    private readonly o: {
      /** How far a stamp may be from our wall clock, either way. */
      windowMs: number;
      wallClock: () => number;
      maxPeers: number;
    },
  ) {}

  admit(request: StampedRequest): void {
    const now = this.o.wallClock();
    const offset = hlcWall(request.at) - now;
    if (Math.abs(offset) > this.o.windowMs)
      throw new RefusedRequestError(
        "stale",
        `request of ${request.node} stamped ${offset} ms from this node's clock (window ${this.o.windowMs} ms)`,
      );
    let nonces = this.peers.get(request.node);
    if (nonces === undefined) {
      if (this.peers.size >= this.o.maxPeers) this.dropQuiet(now);
      if (this.peers.size >= this.o.maxPeers)
        throw new RefusedRequestError("too_many_requests", `requests of too many peers`);
      nonces = new NonceGenerations(now);
      this.peers.set(request.node, nonces);
    }
    nonces.rotate(now, 2 * this.o.windowMs);
    if (nonces.has(request.nonce))
      throw new RefusedRequestError(
        "replayed",
        `request ${request.nonce} of ${request.node} answered already`,
      );
    if (nonces.current.size >= MAX_NONCES_PER_PEER)
      throw new RefusedRequestError(
        "too_many_requests",
        `${request.node} sent more than ${MAX_NONCES_PER_PEER} requests in ${2 * this.o.windowMs} ms`,
      );
    nonces.current.add(request.nonce);
  }

  /** Peers whose nonces are all past their window hold nothing worth keeping. */
  private dropQuiet(now: number): void {
    for (const [node, nonces] of this.peers)
      if (now - nonces.rotatedAt >= 4 * this.o.windowMs) this.peers.delete(node);
  }
}

class NonceGenerations {
  current = new Set<string>();
  previous = new Set<string>();

  constructor(public rotatedAt: number) {}

  /** Called before every lookup, so a nonce taken at t is dropped no earlier than t + every. */
  rotate(now: number, every: number): void {
    const since = now - this.rotatedAt;
    if (since < every) return;
    this.previous = since >= 2 * every ? new Set() : this.current;
    this.current = new Set();
    this.rotatedAt = now;
  }

  has(nonce: string): boolean {
    return this.current.has(nonce) || this.previous.has(nonce);
  }
}
