/** Past this many tracked services, idle ones (full buckets) are forgotten. */
const PRUNE_AT = 10_000;

/**
 * Registrations per second per service as token buckets holding one second's worth: a service
 * may burst to its rate at once, then goes at its rate. 0 disables the limit. Time comes in as
 * an argument, so tests drive it.
 */
export class RegistrationRate {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(private readonly perSecond: number) {}

  take(service: string, nowMs: number): boolean {
    if (this.perSecond <= 0) return true;
    let bucket = this.buckets.get(service);
    if (bucket === undefined) {
      if (this.buckets.size >= PRUNE_AT) this.prune(nowMs);
      bucket = { tokens: this.perSecond, atMs: nowMs };
      this.buckets.set(service, bucket);
    } else {
      const refill = (Math.max(0, nowMs - bucket.atMs) * this.perSecond) / 1000;
      bucket.tokens = Math.min(this.perSecond, bucket.tokens + refill);
      bucket.atMs = nowMs;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private prune(nowMs: number): void {
    for (const [service, bucket] of this.buckets) {
      if (bucket.tokens + ((nowMs - bucket.atMs) * this.perSecond) / 1000 >= this.perSecond)
        this.buckets.delete(service);
    }
  }
}
