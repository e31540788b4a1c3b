/**
 * The node's change log: every key once, at the sequence number of its last change, in
 * sequence order. "What changed since seq S" is a binary search and a scan of what follows, so a
 * peer catching up pays for the changes it missed, not for the registry size.
 *
 * Re-sequencing a key leaves a hole where it was; holes are squeezed out once they outnumber
 * the live slots, which keeps the log within twice the number of keys.
 */
export interface Sequenced {
  seq: number;
}

export class ChangeLog<T extends Sequenced> {
  private seqs: number[] = [];
  private slots: (T | undefined)[] = [];
  private holes = 0;
  /** Sequence number of the last change appended. */
  head = 0;

  /** Gives `item` the next sequence number and moves it to the end of the log. */
  append(item: T): number {
    if (item.seq > 0) this.clear(item);
    item.seq = ++this.head;
    this.seqs.push(item.seq);
    this.slots.push(item);
    return item.seq;
  }

  /** Places an item at a sequence number it already has (restoring a log from disk, in order). */
  restore(item: T): void {
    if (item.seq <= this.head)
      throw new RangeError(`restored seq ${item.seq} is not after ${this.head}`);
    this.head = item.seq;
    this.seqs.push(item.seq);
    this.slots.push(item);
  }

  /** Continues numbering after `head` (a restored log whose newest changes were collected). */
  advanceTo(head: number): void {
    if (head > this.head) this.head = head;
  }

  remove(item: T): void {
    if (item.seq > 0) this.clear(item);
    item.seq = 0;
  }

  get size(): number {
    return this.slots.length - this.holes;
  }

  /** Items changed after `since`, oldest first. `visit` returns false to stop early. */
  scan(since: number, visit: (item: T) => boolean): void {
    for (let i = this.lowerBound(since + 1); i < this.slots.length; i++) {
      const item = this.slots[i];
      if (item !== undefined && !visit(item)) return;
    }
  }

  private clear(item: T): void {
    const i = this.indexOf(item.seq);
    if (i < 0 || this.slots[i] !== item) return;
    this.slots[i] = undefined;
    this.holes++;
    if (this.holes > 1024 && this.holes > this.slots.length / 2) this.compact();
  }

  private compact(): void {
    const seqs: number[] = [];
    const slots: T[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const item = this.slots[i];
      if (item === undefined) continue;
      seqs.push(this.seqs[i]!);
      slots.push(item);
    }
    this.seqs = seqs;
    this.slots = slots;
    this.holes = 0;
  }

  private indexOf(seq: number): number {
    const i = this.lowerBound(seq);
    return this.seqs[i] === seq ? i : -1;
  }

  /** First index whose seq is >= `seq`. */
  private lowerBound(seq: number): number {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
