/**
 * How far a bootstrap has come: what the logs, `regsync status`, the status page and the
 * terminal progress bar of `regsync node` all show, computed in one place.
 */
export interface BootstrapProgress {
  /** The peer streaming the state. */
  peer: string;
  /** Entries held so far. */
  entries: number;
  /** Entries the peer announced (never less than `entries`). */
  total: number;
  elapsedMs: number;
  /** Average rate since the start. */
  perSecond: number;
  /** Time left at the average rate; undefined until a rate is known. */
  etaMs: number | undefined;
  state: "running" | "complete" | "failed";
}

export function bootstrapProgress(
  peer: string,
  entries: number,
  announced: number,
  elapsedMs: number,
  state: BootstrapProgress["state"] = "running",
): BootstrapProgress {
  const total = Math.max(announced, entries);
  const perSecond = elapsedMs > 0 ? (entries * 1000) / elapsedMs : 0;
  return {
    peer,
    entries,
    total,
    elapsedMs,
    perSecond: Math.round(perSecond),
    etaMs: perSecond > 0 ? Math.round(((total - entries) / perSecond) * 1000) : undefined,
    state,
  };
}

/** Share done, 0 to 1 (1 for an empty registry). */
export function fractionDone(progress: Pick<BootstrapProgress, "entries" | "total">): number {
  return progress.total === 0 ? 1 : Math.min(1, progress.entries / progress.total);
}
