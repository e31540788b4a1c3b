import type { Logger } from "pino";

/** At most one warning per kind in this window; the rest are counted and reported with it. */
export const REJECTION_LOG_INTERVAL_MS = 60_000;

/**
 * Logs refused requests (quotas, oversized instances or replies, replies to non-inbox
 * subjects) at warn level without letting a flood of them flood the log: the first of a kind
 * is logged at once, later ones at most once per interval with the number held back.
 * Every refusal is also counted in the metrics, so nothing depends on the log.
 */
export class RejectionLog {
  private readonly kinds = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = REJECTION_LOG_INTERVAL_MS,
  ) {}

  rejected(kind: string, details: Record<string, unknown>, message: string): void {
    const now = this.now();
    const seen = this.kinds.get(kind);
    if (seen !== undefined && now - seen.lastMs < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.kinds.set(kind, { lastMs: now, suppressed: 0 });
    this.log.warn({ kind, ...details, ...(suppressed > 0 ? { suppressed } : {}) }, message);
  }
}
