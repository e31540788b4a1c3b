/**
 * The store's entries by key: an open-addressing hash table over the high half of each key's
 * hash (`k0`, see reconcile/key-hash.ts), which every entry carries for reconciliation anyway.
 *
 * Slots live in two parallel arrays, the `k0` of each slot in an Int32Array and the item in a
 * plain array, and collisions probe the next slot. A miss, which every new key costs, reads
 * consecutive int32s instead of following a JS Map's hash chain from object to object, and
 * growing rehashes from the int32s without touching the items. Keys whose `k0` collide simply
 * sit in nearby slots and are told apart by their strings.
 *
 * The slot of a `k0` is drawn by multiplying with a random per-table seed, so that keys crafted
 * to share a slot in one process do not in another (the key hash itself is public).
 */
export interface KeyedItem {
  readonly service: string;
  readonly id: string;
  readonly k0: number;
}

const MIN_BITS = 4;
/** Grow when more than this share of the slots is taken: probes stay short. */
const MAX_LOAD = 0.7;

export class KeyTable<T extends KeyedItem> {
  private bits = MIN_BITS;
  private hashes = new Int32Array(1 << MIN_BITS);
  private items: (T | undefined)[] = new Array(1 << MIN_BITS);
  private count = 0;
  private readonly seed = (Math.random() * 0x1_0000_0000) | 0;

  get size(): number {
    return this.count;
  }

  /** The item held for `service`/`id`, whose key hash has the high half `k0`. */
  find(service: string, id: string, k0: number): T | undefined {
    const mask = this.items.length - 1;
    for (let i = this.home(k0); ; i = (i + 1) & mask) {
      const item = this.items[i];
      if (item === undefined) return undefined;
      if (this.hashes[i] === k0 && item.id === id && item.service === service) return item;
    }
  }

  /** Adds an item whose key the table does not hold. */
  insert(item: T): void {
    if (this.count + 1 > this.items.length * MAX_LOAD) this.resize(this.bits + 1);
    this.place(item.k0, item);
    this.count++;
  }

  /** Takes an item out; false if the table did not hold it. */
  remove(item: T): boolean {
    const mask = this.items.length - 1;
    let hole = this.home(item.k0);
    for (;;) {
      const held = this.items[hole];
      if (held === undefined) return false;
      if (held === item) break;
      hole = (hole + 1) & mask;
    }
    // Backward-shift deletion: move later items of the probe run into the hole when their home
    // slot does not lie between the hole and where they sit, so no run is ever broken.
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const next = this.items[j];
      if (next === undefined) break;
      const home = this.home(this.hashes[j]!);
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      this.items[hole] = next;
      this.hashes[hole] = this.hashes[j]!;
      hole = j;
    }
    this.items[hole] = undefined;
    this.hashes[hole] = 0;
    this.count--;
    return true;
  }

  private home(k0: number): number {
    return Math.imul(k0 ^ this.seed, 0x9e3779b1) >>> (32 - this.bits);
  }

  private place(k0: number, item: T): void {
    const mask = this.items.length - 1;
    let i = this.home(k0);
    while (this.items[i] !== undefined) i = (i + 1) & mask;
    this.items[i] = item;
    this.hashes[i] = k0;
  }

  private resize(bits: number): void {
    const hashes = this.hashes;
    const items = this.items;
    this.bits = bits;
    this.hashes = new Int32Array(1 << bits);
    this.items = new Array(1 << bits);
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (item !== undefined) this.place(hashes[i]!, item);
    }
  }
}
