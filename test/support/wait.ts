import { setTimeout as sleep } from "node:timers/promises";

export { sleep };

/** Polling defaults: short enough to keep tests quick, long enough for a loaded 2-core machine. */
export const DEFAULT_WAIT_TIMEOUT_MS = 5_000;
export const DEFAULT_WAIT_INTERVAL_MS = 20;

export interface WaitOptions {
  /** @default DEFAULT_WAIT_TIMEOUT_MS */
  timeoutMs?: number;
  /** Pause between two calls of the predicate. @default DEFAULT_WAIT_INTERVAL_MS */
  intervalMs?: number;
  /** What is awaited, for the timeout error. @default "condition" */
  message?: string;
}

/**
 * Polls `predicate` until it returns true; fails with `message` after `timeoutMs`. A predicate
 * that throws counts as false (a server still starting refuses connections), and the last
 * error is quoted if the wait times out. Use this instead of sleeping for a guessed time.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  {
    timeoutMs = DEFAULT_WAIT_TIMEOUT_MS,
    intervalMs = DEFAULT_WAIT_INTERVAL_MS,
    message = "condition",
  }: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await predicate()) return;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const why = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for: ${message}${why}`);
    }
    await sleep(intervalMs);
  }
}
