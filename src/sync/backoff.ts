/**
 * Exponential backoff with full jitter: a delay drawn uniformly from [0, min(max, base·2^attempt)].
 * Full jitter spreads the retries of many nodes that lost the same peer at the same moment, so
 * they do not return in lockstep.
 */
export function fullJitterDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * The periodic announcement interval, jittered by ±10% so nodes started together drift apart,
 * and stretched logarithmically past 32 nodes so a large fleet's background traffic grows like
 * N·log N rather than N².
 */
export function periodicInterval(
  baseMs: number,
  fleetSize: number,
  random: () => number = Math.random,
): number {
  const scale = fleetSize > 32 ? Math.ceil(Math.log2(fleetSize / 32)) + 1 : 1;
  return Math.round(baseMs * scale * (0.9 + 0.2 * random()));
}
