import type { Service } from "nats";

/**
 * What `nats micro stats` reports for one endpoint, kept the way nats.js services count it:
 * `num_requests` and `processing_time` (nanoseconds, receipt to reply) per request, and
 * `num_errors` with `last_error` for every request answered with an error. nats.js itself only
 * sees the synchronous part of a handler, which for regsync hands the request to its pacer and
 * returns: the counts would say every request took no time and none failed.
 */
export interface EndpointStats {
  /** A request answered `elapsedMs` after it arrived; `error` when the answer was an error. */
  record(elapsedMs: number, error?: { code: string; message: string }): void;
}

/** The fields of nats.js's per-endpoint stats object that `$SRV.STATS` reads. */
interface NatsEndpointStats {
  num_requests: number;
  processing_time: number;
  average_processing_time: number;
  countError(error: Error): void;
}

interface ServiceInternals {
  handlers?: { name: string; stats?: Partial<NatsEndpointStats> }[];
}

const NANOS_PER_MS = 1_000_000;

/**
 * The stats of endpoint `name` of `service`. nats.js keeps them on its service object (its own
 * tests reach them the same way); should a release move them, stats stay as nats.js counts
 * them and `endpointStatsAvailable` says so, which a test checks.
 */
export function endpointStats(service: Service, name: string): EndpointStats {
  const stats = (service as unknown as ServiceInternals).handlers?.find(
    (h) => h.name === name,
  )?.stats;
  if (!isUsable(stats)) return { record() {} };
  return {
    record(elapsedMs, error) {
      // nats.js already counted the request and the time its handler ran synchronously (near
      // nothing): add the rest of the time, so the totals cover receipt to reply.
      stats.processing_time += Math.round(elapsedMs * NANOS_PER_MS);
      stats.average_processing_time = Math.round(stats.processing_time / stats.num_requests);
      if (error !== undefined) stats.countError(new Error(`${error.code}: ${error.message}`));
    },
  };
}

export function endpointStatsAvailable(service: Service, name: string): boolean {
  return isUsable(
    (service as unknown as ServiceInternals).handlers?.find((h) => h.name === name)?.stats,
  );
}

function isUsable(stats: Partial<NatsEndpointStats> | undefined): stats is NatsEndpointStats {
  return (
    stats !== undefined &&
    typeof stats.processing_time === "number" &&
    typeof stats.num_requests === "number" &&
    typeof stats.countError === "function"
  );
}
