/**
 * The store's entries grouped by service, for lookups and summaries.
 *
 * A group is a plain array, and every entry remembers its place in it (`slot`): adding is a
 * push and removing moves the group's last entry into the hole, both O(1) without the hash
 * table a Set keeps per entry. Lookups walk the array, so their order is unspecified, as it is
 * across replicas anyway.
 */
export interface GroupedItem {
  service: string;
  /** Position in its service's group; maintained by `ServiceGroups` alone. */
  slot: number;
}

export interface ServiceGroup<T> {
  /** The service name, one copy shared by every entry of the group. */
  readonly name: string;
  readonly entries: T[];
}

export class ServiceGroups<T extends GroupedItem> {
  private readonly groups = new Map<string, ServiceGroup<T>>();

  /** Adds an item; it takes the group's copy of the service name (a request brings its own). */
  add(item: T): void {
    let group = this.groups.get(item.service);
    if (group === undefined) {
      group = { name: item.service, entries: [] };
      this.groups.set(item.service, group);
    }
    item.service = group.name;
    item.slot = group.entries.length;
    group.entries.push(item);
  }

  remove(item: T): void {
    const group = this.groups.get(item.service);
    if (group === undefined || group.entries[item.slot] !== item) return;
    const last = group.entries.pop()!;
    if (last !== item) {
      group.entries[item.slot] = last;
      last.slot = item.slot;
    }
    if (group.entries.length === 0) this.groups.delete(item.service);
  }

  /** The entries of one service; empty when it has none. */
  of(service: string): readonly T[] {
    return this.groups.get(service)?.entries ?? [];
  }

  /** How many services have at least one item. */
  get size(): number {
    return this.groups.size;
  }

  values(): IterableIterator<ServiceGroup<T>> {
    return this.groups.values();
  }
}
