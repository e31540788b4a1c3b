import type { MergeResult } from "../core/mod.js";
import { EnvelopeError } from "../wire/envelope.js";
import { InvalidEntryError } from "./entry-codec.js";
import { InvalidMessageError, StaleReplyError } from "./messages.js";
import type { PeerStateName } from "./peer.js";
import { RefusedRequestError } from "./request-freshness.js";

export type ApplyPath = "inline" | "pull" | "reconcile";

/**
 * What the sync engine reports; the node implements it with its Prometheus metrics
 * (src/node/metrics.ts), tests with `NO_SYNC_METRICS` or a recorder.
 */
export interface SyncMetrics {
  announced(direction: "in" | "out", inline: boolean): void;
  pulled(outcome: "ok" | "failed" | "reset", latencyMs?: number): void;
  /** Time a pull loop waited for a page, prefetched or not. */
  pullWaited(ms: number): void;
  applied(path: ApplyPath, result: MergeResult): void;
  /** A whole sync message refused; `reason` from `rejectionReason`. */
  rejected(reason: string): void;
  reconciled(outcome: "ok" | "failed"): void;
  bytes(direction: "in" | "out", stage: "raw" | "wire", count: number): void;
  peerStates(counts: Readonly<Record<PeerStateName, number>>, entries: number): void;
}

export const NO_SYNC_METRICS: SyncMetrics = {
  announced: () => {},
  pulled: () => {},
  pullWaited: () => {},
  applied: () => {},
  rejected: () => {},
  reconciled: () => {},
  bytes: () => {},
  peerStates: () => {},
};

/**
 * The label a refused message is counted under: the envelope's own reason (checksum_mismatch,
 * bad_signature, ...), `stale`, `replayed` or `too_many_requests` for a reply or request that is
 * not fresh, `invalid` for a message or entry that failed validation, `internal` for
 * anything else (a bug or a storage failure, not the peer's fault).
 */
export function rejectionReason(error: unknown): string {
  if (error instanceof EnvelopeError) return error.reason;
  if (error instanceof StaleReplyError) return "stale";
  if (error instanceof RefusedRequestError) return error.reason;
  if (error instanceof InvalidEntryError || error instanceof InvalidMessageError) return "invalid";
  return "internal";
}
