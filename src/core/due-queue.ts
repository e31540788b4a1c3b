/**
 * Items bucketed by the second in which something becomes due for them (a lease passing, a
 * tombstone's grace ending). A sweep visits only the buckets that are due, so finding expiries
 * costs what expires, not the registry size.
 *
 * An item may sit in several buckets (each renewal schedules it again); stale places are cheap
 * and the visitor decides from the item's current state whether anything is due.
 */
const BUCKET_MS = 1_000;

export class DueQueue<T> {
  private readonly buckets = new Map<number, T[]>();

  schedule(item: T, dueMs: number): void {
    const bucket = Math.floor(dueMs / BUCKET_MS);
    const list = this.buckets.get(bucket);
    if (list) list.push(item);
    else this.buckets.set(bucket, [item]);
  }

  /** Removes and visits every item in buckets that ended by `nowMs`. */
  drain(nowMs: number, visit: (item: T) => void): void {
    const last = Math.floor(nowMs / BUCKET_MS) - 1;
    const due: number[] = [];
    for (const bucket of this.buckets.keys()) if (bucket <= last) due.push(bucket);
    due.sort((a, b) => a - b);
    for (const bucket of due) {
      const list = this.buckets.get(bucket)!;
      this.buckets.delete(bucket);
      for (const item of list) visit(item);
    }
  }

  get bucketCount(): number {
    return this.buckets.size;
  }
}
