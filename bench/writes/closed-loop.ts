/**
 * One client keeping a fixed number of writes in flight: each lane sends its next write as soon
 * as the previous one is acknowledged, so the rate is what the system under test sustains.
 */
export interface LoadResult {
  /** Writes acknowledged. */
  acked: number;
  seconds: number;
  /** Each acknowledged write's latency, ms. */
  latenciesMs: number[];
  /** Ack times (performance.now(), ms) in the order the acks arrived. */
  ackTimes: number[];
  /** Index of each write in ack order, so a propagation probe can match acks to writes. */
  ackOrder: number[];
}

export async function closedLoop(
  total: number,
  inFlight: number,
  write: (index: number) => Promise<void>,
): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  const ackTimes: number[] = [];
  const ackOrder: number[] = [];
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const index = next++;
      const sent = performance.now();
      await write(index);
      const at = performance.now();
      latenciesMs.push(at - sent);
      ackTimes.push(at);
      ackOrder.push(index);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  const seconds = (performance.now() - started) / 1000;
  return { acked: ackTimes.length, seconds, latenciesMs, ackTimes, ackOrder };
}
