import { open } from "lmdb";
import { type Entry, instanceBody, newEntry, packHlc } from "../../src/core/mod.js";
import type { PersistedState } from "../../src/storage/storage.js";
import { testStore } from "./store.js";

/** An entry of service "api" as a durable node commits it: id `id`, written at `seq` (its
 * version grows with the seq, as a node's own writes do). */
export function storedEntry(id: string, seq: number): Entry {
  const e = newEntry({
    service: "api",
    id,
    hlc: packHlc(1_700_000_000_000 + seq, 0),
    node: "n1",
    body: instanceBody({ host: `host-${id}`, port: 80, weight: 100, ttlMs: 30_000 }),
    status: "running",
    ver: "",
    ttlMs: 30_000,
    registeredAt: 1_700_000_000_000,
  });
  e.seq = seq;
  return e;
}

/** The entries a store holds once it restored `state`, by `RegistryStore.restore` itself (which
 * tells the storage, through each entry, what it holds on disk), in `state`'s order. */
export function heldEntries(state: PersistedState): Entry[] {
  const store = testStore("n1", () => 1_700_000_000_000, state.epoch);
  store.restore(state.entries, state.head);
  return state.entries.map((record) => store.get(record.service, record.id)!);
}

/** The keys of a data directory's entries tree, as LMDB holds them (seqs, in format 3). */
export async function storedKeys(dir: string): Promise<unknown[]> {
  const db = open({ path: dir, maxDbs: 8, readOnly: true });
  try {
    return [...db.openDB({ name: "entries", encoding: "binary" }).getKeys()];
  } finally {
    await db.close();
  }
}

/**
 * Makes `storage`'s next group fail as a refused write would: nothing written, the failure known
 * `afterMs` later, after whatever is queued meanwhile. The appends after it write as usual.
 */
export function refuseNextGroup(storage: object, afterMs: number): void {
  const log = (storage as { log: { append: unknown } }).log;
  const append = log.append;
  log.append = () => {
    log.append = append;
    return new Promise((_, reject) => setTimeout(() => reject(new Error("disk full")), afterMs));
  };
}
