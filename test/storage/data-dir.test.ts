import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { open } from "lmdb";
import type { Entry } from "../../src/core/mod.js";
import { LmdbStorage } from "../../src/storage/lmdb-storage.js";
import { seal } from "../../src/storage/sealed.js";
import { toStored } from "../../src/storage/stored-entry.js";
import {
  heldEntries,
  refuseNextGroup,
  storedEntry,
  storedKeys,
} from "../support/stored-entries.js";

const STORAGE_MODULE = new URL("../../src/storage/lmdb-storage.js", import.meta.url).href;
const ENTRIES = 64;

function entries(): Entry[] {
  return Array.from({ length: ENTRIES }, (_, i) => storedEntry(`a${i}`, i + 1));
}

async function populate(dir: string): Promise<void> {
  const storage = new LmdbStorage(dir, "n1");
  assert.equal(storage.load(), undefined);
  await storage.initialise("epoch-1");
  await storage.commit(entries(), ENTRIES);
  await storage.close();
}

/**
 * `populate`d, then opened and loaded; `commitNew(prefix, count)` commits new keys
 * `<prefix>0..` as one group at the next seqs, and `head()` is the newest seq issued.
 */
async function openPopulated(dir: string) {
  await populate(dir);
  const storage = new LmdbStorage(dir, "n1");
  let seq = storage.load()!.head;
  const commitNew = async (prefix: string, count: number) => {
    const group = Array.from({ length: count }, (_, i) => storedEntry(`${prefix}${i}`, ++seq));
    await storage.commit(group, seq);
  };
  return { storage, commitNew, head: () => seq };
}

/**
 * Opens and loads `dir` in a child process, so a crash of LMDB (a bus error, a segfault) fails
 * the test instead of killing the test runner.
 */
function loadInChild(dir: string): { status: number | null; signal: string | null; out: string } {
  const script = `
    const { LmdbStorage } = await import(${JSON.stringify(STORAGE_MODULE)});
    try {
      const s = new LmdbStorage(${JSON.stringify(dir)}, "n1");
      const state = s.load();
      console.log("restored " + (state?.entries.length ?? 0) + " entries, head " + state?.head);
      await s.close();
    } catch (e) { console.log("refused: " + e.name + ": " + e.message); }`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: child.status, signal: child.signal, out: `${child.stdout}${child.stderr}` };
}

const SUPPORT_MODULE = new URL("../support/stored-entries.js", import.meta.url).href;

/**
 * In a child process: rewrites a0..a(rewrites-1) and writes b0..b(added-1), in groups of
 * `groupSize`, each acknowledged, then dies by SIGKILL before anything else, so small groups are
 * in the write-ahead log and not yet in LMDB. Returns the seqs acknowledged.
 */
function commitInChildAndDie(
  dir: string,
  rewrites: number,
  added: number,
  groupSize = 4,
): number[] {
  const script = `
    const { LmdbStorage } = await import(${JSON.stringify(STORAGE_MODULE)});
    const { heldEntries, storedEntry } = await import(${JSON.stringify(SUPPORT_MODULE)});
    const s = new LmdbStorage(${JSON.stringify(dir)}, "n1");
    const state = s.load();
    const held = new Map(heldEntries(state).map((e) => [e.id, e]));
    let seq = state.head;
    const writes = [];
    for (let i = 0; i < ${rewrites}; i++) {
      const e = held.get("a" + i);
      e.seq = ++seq;
      writes.push(e);
    }
    for (let i = 0; i < ${added}; i++) writes.push(storedEntry("b" + i, ++seq));
    for (let i = 0; i < writes.length; i += ${groupSize}) {
      const group = writes.slice(i, i + ${groupSize});
      await s.commit(group, group[group.length - 1].seq);
      console.log("acked " + group.map((e) => e.seq).join(" "));
    }
    process.kill(process.pid, "SIGKILL");`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(child.signal, "SIGKILL", `the child did not die as planned: ${child.stderr}`);
  return child.stdout
    .split("\n")
    .filter((line) => line.startsWith("acked "))
    .flatMap((line) => line.slice(6).split(" ").map(Number));
}

/**
 * Makes LMDB refuse every write of `storage` (a transaction refused whole, as on a full disk),
 * runs a fold at once (the fold timer's work), waits until LMDB refused it, then lets LMDB write
 * again. The groups the fold held stay acknowledged, in the log.
 */
async function refuseOneFold(storage: LmdbStorage): Promise<void> {
  type Db = { put: unknown; remove: unknown };
  const inside = storage as unknown as { entries: Db; meta: Db; cursors: Db; wantFold(): void };
  const dbs = [inside.entries, inside.meta, inside.cursors];
  const real = dbs.map(({ put, remove }) => ({ put, remove }));
  let refused = 0;
  for (const db of dbs)
    db.put = db.remove = () => {
      refused++;
      return Promise.reject(new Error("disk full"));
    };
  inside.wantFold();
  for (let waited = 0; refused === 0 && waited < 2_000; waited += 10)
    await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(refused > 0, "the fold reached LMDB");
  await new Promise((resolve) => setTimeout(resolve, 20));
  for (const [i, db] of dbs.entries()) Object.assign(db, real[i]);
}

/** The log file written last. */
function newestLog(dir: string): string {
  const logs = ["wal-0", "wal-1"].map((name) => join(dir, name));
  return logs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
}

function overwrite(file: string, position: number, bytes: Buffer): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, position);
  } finally {
    closeSync(fd);
  }
}

/** The page size, and the meta page LMDB would pick (the newer transaction). */
function metaLayout(file: string): { pageSize: number; newest: number } {
  const head = readFileSync(file).subarray(0, 8192);
  const pageSize = head.readUInt32LE(48);
  const data = readFileSync(file);
  const txn = (page: number) => data.readBigUInt64LE(page * pageSize + 152);
  return { pageSize, newest: txn(1) > txn(0) ? 1 : 0 };
}

describe("data directory", () => {
  let root: string;
  let n = 0;
  const fresh = () => join(root, `d${n++}`);

  before(() => {
    root = mkdtempSync(join(tmpdir(), "regsync-datadir-"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test("a sound directory restores every entry", async () => {
    const dir = fresh();
    await populate(dir);
    const child = loadInChild(dir);
    assert.match(child.out, new RegExp(`restored ${ENTRIES} entries, head ${ENTRIES}`));
  });

  test("a truncated data.mdb is refused before LMDB maps it", async () => {
    const dir = fresh();
    await populate(dir);
    const file = join(dir, "data.mdb");
    truncateSync(file, Math.floor(statSync(file).size / 2));
    const child = loadInChild(dir);
    assert.equal(child.signal, null, `the node crashed: ${child.out}`);
    assert.match(child.out, /refused: DataDirError: .*truncated/);
  });

  test("a corrupted meta page whose magic is intact is refused", async () => {
    const dir = fresh();
    await populate(dir);
    const file = join(dir, "data.mdb");
    const { pageSize, newest } = metaLayout(file);
    // Everything after the magic and version: map size, tree roots, page count.
    const garbage = Buffer.alloc(128);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 89 + 13) & 0xff;
    overwrite(file, newest * pageSize + 32, garbage);
    const child = loadInChild(dir);
    assert.equal(child.signal, null, `the node crashed: ${child.out}`);
    assert.match(child.out, /refused: DataDirError: .*meta page/);
  });

  test("a corrupted record is refused, not read", async () => {
    const dir = fresh();
    await populate(dir);
    const file = join(dir, "data.mdb");
    // Copy-on-write leaves older copies of pages in the file: change every copy.
    const data = readFileSync(file);
    let copies = 0;
    for (
      let at = data.indexOf("host-a17");
      at >= 0;
      at = data.indexOf("host-a17", at + 1), copies++
    )
      overwrite(file, at, Buffer.from("hast-17"));
    assert.ok(copies > 0);
    const child = loadInChild(dir);
    assert.match(
      child.out,
      /refused: DataDirError: .*corrupt entry at seq 18 \(checksum mismatch\)/,
    );
  });

  test("a zeroed data page is refused, never read as an empty replica", async () => {
    const dir = fresh();
    await populate(dir);
    const file = join(dir, "data.mdb");
    const { pageSize } = metaLayout(file);
    const data = readFileSync(file);
    for (let at = data.indexOf("host-a40"); at >= 0; at = data.indexOf("host-a40", at + 1))
      overwrite(file, Math.floor(at / pageSize) * pageSize, Buffer.alloc(pageSize));
    const child = loadInChild(dir);
    assert.equal(child.signal, null, `the node crashed: ${child.out}`);
    assert.match(child.out, /refused: DataDirError/);
  });

  test("a second process on a directory in use is refused; a dead owner's lock is taken over", async () => {
    const dir = fresh();
    await populate(dir);
    const holder = new LmdbStorage(dir, "n1");
    try {
      holder.load();
      const child = loadInChild(dir);
      assert.match(child.out, /refused: DataDirError: .* in use by another process \(pid \d+/);
      assert.throws(() => new LmdbStorage(dir, "n1"), /already in use by this process/);
    } finally {
      await holder.close();
    }
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
    writeFileSync(join(dir, "regsync.lock"), `${dead}\n`);
    assert.match(loadInChild(dir).out, new RegExp(`restored ${ENTRIES} entries`));
  });

  test("files are created readable by the node's user alone", async () => {
    const dir = fresh();
    const storage = new LmdbStorage(dir, "n1");
    try {
      await storage.initialise("e");
      for (const file of ["data.mdb", "lock.mdb", "regsync.lock"])
        assert.equal(statSync(join(dir, file)).mode & 0o077, 0, `${file} is open to others`);
      assert.equal(statSync(dir).mode & 0o077, 0);
    } finally {
      await storage.close();
    }
  });

  test("a format-1 directory is migrated once, keyed by seq, with every entry", async () => {
    const dir = fresh();
    const db = open({ path: dir, maxDbs: 8 });
    const meta = db.openDB({ name: "meta" });
    const rows = db.openDB({ name: "entries" });
    const cursors = db.openDB({ name: "cursors" });
    for (const e of entries()) {
      const wall = 1_700_000_000_000 + (e.seq - 1);
      await rows.put(`api/${e.id}`, [
        ...[e.service, e.id, e.hlc, e.node, e.body, e.status, e.ver, e.ttlMs, e.registeredAt],
        wall,
        wall + e.ttlMs,
        e.seq,
      ]);
    }
    await cursors.put("n2", { epoch: "x", cursor: 7 });
    await meta.put("meta", { format: 1, nodeId: "n1", epoch: "old", head: ENTRIES });
    await db.close();
    await assertMigrated(dir);
  });

  test("a format-2 directory (keyed by service/id) is rewritten keyed by seq, once", async () => {
    const dir = fresh();
    const db = open({ path: dir, maxDbs: 8 });
    const meta = db.openDB({ name: "meta", encoding: "binary" });
    const rows = db.openDB({ name: "entries", encoding: "binary" });
    const cursors = db.openDB({ name: "cursors", encoding: "binary" });
    for (const e of entries()) await rows.put(`api/${e.id}`, seal(toStored(e)));
    await cursors.put("n2", seal({ epoch: "x", cursor: 7 }));
    await meta.put("meta", seal({ format: 2, nodeId: "n1", epoch: "old", head: ENTRIES }));
    await db.close();
    await assertMigrated(dir);
  });

  test("a rewritten key leaves one record, at its newest seq; a removed one none", async () => {
    const dir = fresh();
    await populate(dir);
    const storage = new LmdbStorage(dir, "n1");
    const state = storage.load();
    assert.equal(state?.entries.length, ENTRIES);
    // Heartbeats of the first ten, twice, then the collection of the next five.
    const all = heldEntries(state!);
    let seq = ENTRIES;
    for (let round = 0; round < 2; round++) {
      const renewed = all.slice(0, 10).map((e) => {
        e.seq = ++seq;
        e.hlc += 1;
        return e;
      });
      await storage.commit(renewed, seq);
    }
    await storage.remove(all.slice(10, 15));
    // Two renewals of ten (a record and a deletion each), then five deletions.
    assert.deepEqual(storage.stats(), { transactions: 3, records: 45, spaced: 0 });
    await storage.close();
    const reloaded = new LmdbStorage(dir, "n1");
    const after = reloaded.load();
    await reloaded.close();
    assert.equal(after?.entries.length, ENTRIES - 5);
    assert.deepEqual(
      after?.entries.slice(-10).map((e) => [e.id, e.seq, e.hlc]),
      all.slice(0, 10).map((e) => [e.id, e.seq, e.hlc]),
    );
    assert.ok(!after?.entries.some((e) => ["a10", "a11", "a12", "a13", "a14"].includes(e.id)));
    assert.equal((await storedKeys(dir)).length, ENTRIES - 5);
  });

  test("after a failed transaction, a key's older record goes with its next write", async () => {
    const dir = fresh();
    await populate(dir);
    const storage = new LmdbStorage(dir, "n1");
    const all = heldEntries(storage.load()!);
    const a7 = all[7]!;
    const a8 = all[8]!;
    // The disk refuses one group: it changes nothing.
    refuseNextGroup(storage, 50);
    a7.seq = ENTRIES + 1;
    a8.seq = ENTRIES + 2;
    const failed = storage.commit([a7, a8], a8.seq);
    await new Promise((resolve) => setTimeout(resolve, 1));
    // Queued before the failure is known: a7 again, and a8's collection.
    a7.seq = ENTRIES + 3;
    const next = storage.commit([a7], a7.seq);
    const collected = storage.remove([a8]);
    await assert.rejects(failed, /disk full/);
    await next;
    await collected;
    await storage.close();
    assert.deepEqual(
      (await storedKeys(dir)).slice(-2),
      [ENTRIES, ENTRIES + 3],
      "a8's record is gone",
    );
    const reloaded = new LmdbStorage(dir, "n1");
    const state = reloaded.load();
    await reloaded.close();
    assert.equal(state?.entries.length, ENTRIES - 1, "a8 stays collected");
    assert.equal(state?.entries.find((e) => e.id === "a7")?.seq, ENTRIES + 3);
    assert.equal((await storedKeys(dir)).length, ENTRIES - 1, "a7's older record is gone");
  });

  test("groups acknowledged and still in the write-ahead log when the node dies come back", async () => {
    const dir = fresh();
    await populate(dir);
    const acked = commitInChildAndDie(dir, 5, 6);
    assert.equal(acked.length, 11);
    for (let round = 0; round < 2; round++) {
      const storage = new LmdbStorage(dir, "n1");
      const state = storage.load();
      await storage.close();
      assert.equal(state?.head, ENTRIES + 11, `round ${round}`);
      assert.equal(state?.entries.length, ENTRIES + 6);
      for (let i = 0; i < 5; i++)
        assert.equal(state?.entries.find((e) => e.id === `a${i}`)?.seq, ENTRIES + 1 + i);
      for (let i = 0; i < 6; i++)
        assert.equal(state?.entries.find((e) => e.id === `b${i}`)?.seq, ENTRIES + 6 + i);
    }
    assert.equal((await storedKeys(dir)).length, ENTRIES + 6, "one record per key in LMDB");
  });

  test("large groups skip the log: in LMDB when acknowledged, the node killed right after", async () => {
    const dir = fresh();
    await populate(dir);
    const acked = commitInChildAndDie(dir, 0, 300, 100);
    assert.equal(acked.length, 300);
    for (const name of ["wal-0", "wal-1"]) {
      const path = join(dir, name);
      const written = existsSync(path) ? readFileSync(path).some((b) => b !== 0) : false;
      assert.equal(written, false, `${name} holds no frame`);
    }
    const storage = new LmdbStorage(dir, "n1");
    const state = storage.load();
    await storage.close();
    assert.equal(state?.head, ENTRIES + 300);
    assert.equal(state?.entries.length, ENTRIES + 300);
    assert.equal((await storedKeys(dir)).length, ENTRIES + 300, "one record per key in LMDB");
  });

  test("once 512 logged records wait, LMDB folds them without waiting for the timer", async () => {
    const dir = fresh();
    const { storage, commitNew } = await openPopulated(dir);
    // 52 groups of 10, each logged (under 64): 11 records each with the meta record.
    for (let g = 0; g < 52; g++) await commitNew(`g${g}-`, 10);
    await (storage as unknown as { folding?: Promise<void> }).folding;
    assert.ok(
      (await storedKeys(dir)).length >= ENTRIES + 470,
      "the groups that made up 512 records are in LMDB",
    );
    await storage.close();
  });

  test("a large group after logged ones takes them into LMDB with it", async () => {
    const dir = fresh();
    const { storage, commitNew } = await openPopulated(dir);
    await commitNew("s", 3);
    await commitNew("l", 80);
    // Both in LMDB already: no replay needed to find them.
    assert.equal((await storedKeys(dir)).length, ENTRIES + 83);
    await storage.close();
  });

  test("a large group after a refused fold waits for the older groups' fold, then its own", async () => {
    const dir = fresh();
    const { storage, commitNew } = await openPopulated(dir);
    await commitNew("s", 3);
    await refuseOneFold(storage);
    // The refused fold moved the log on: the small group's generation is now the older one,
    // and the large group's fold must take it first.
    await commitNew("l", 80);
    assert.equal((await storedKeys(dir)).length, ENTRIES + 83, "every group in LMDB at the ack");
    await storage.close();
  });

  test("a fold LMDB refuses leaves the groups in the log; the next fold takes them, and a restart finds all", async () => {
    const dir = fresh();
    const { storage, commitNew, head } = await openPopulated(dir);
    await commitNew("c", 6);
    void storage.saveCursor("n2", "x", 9);
    await refuseOneFold(storage);
    await commitNew("d", 6);
    await storage.close();
    const reloaded = new LmdbStorage(dir, "n1");
    const after = reloaded.load();
    await reloaded.close();
    assert.equal(after?.entries.length, ENTRIES + 12);
    assert.equal(after?.head, head());
    assert.deepEqual(after?.cursors.get("n2"), { epoch: "x", cursor: 9 });
    assert.equal((await storedKeys(dir)).length, ENTRIES + 12, "all of it in LMDB");
  });

  test("a torn last frame of the log, a group never acknowledged, is left out", async () => {
    const dir = fresh();
    await populate(dir);
    commitInChildAndDie(dir, 0, 8);
    const log = newestLog(dir);
    // The start of a frame whose body never reached the disk.
    const end = statSync(log).size;
    overwrite(log, end, Buffer.from([0, 0, 1, 0, 0xc1, 1, 2, 3]));
    const child = loadInChild(dir);
    assert.match(child.out, new RegExp(`restored ${ENTRIES + 8} entries, head ${ENTRIES + 8}`));
  });

  test("a corrupt frame with the log going on after it is refused, never skipped", async () => {
    const dir = fresh();
    await populate(dir);
    commitInChildAndDie(dir, 0, 8);
    const log = newestLog(dir);
    overwrite(log, 20, Buffer.from([0xff ^ readFileSync(log)[20]!]));
    const child = loadInChild(dir);
    assert.match(child.out, /refused: DataDirError: .*corrupt write-ahead log/);
  });

  test("an older record left beside a key's newer one is dropped at start", async () => {
    const dir = fresh();
    await populate(dir);
    // As a failed transaction could leave it: a3's record at seq 3 and again at seq 65.
    const db = open({ path: dir, maxDbs: 8 });
    const rows = db.openDB({ name: "entries", encoding: "binary" });
    const meta = db.openDB({ name: "meta", encoding: "binary" });
    const a3 = entries()[3]!;
    a3.seq = ENTRIES + 1;
    a3.hlc += 1;
    await rows.put(a3.seq, seal(toStored(a3)));
    await meta.put("meta", seal({ format: 3, nodeId: "n1", epoch: "epoch-1", head: a3.seq }));
    await db.close();
    const storage = new LmdbStorage(dir, "n1");
    const state = storage.load();
    await storage.close();
    assert.equal(state?.entries.length, ENTRIES);
    assert.equal(state?.entries.find((e) => e.id === "a3")?.seq, ENTRIES + 1);
    assert.equal((await storedKeys(dir)).length, ENTRIES);
    assert.ok(!(await storedKeys(dir)).includes(4));
  });
});

/** Loads a migrated directory twice (the second start finds format 3): every entry, its
 * history and cursors kept, each record under its seq. */
async function assertMigrated(dir: string): Promise<void> {
  for (let round = 0; round < 2; round++) {
    const storage = new LmdbStorage(dir, "n1");
    const state = storage.load();
    await storage.close();
    assert.equal(state?.epoch, "old");
    assert.equal(state?.head, ENTRIES);
    assert.deepEqual(
      state?.entries.map((e) => [e.id, e.seq, e.body]),
      entries().map((e) => [e.id, e.seq, e.body]),
    );
    assert.deepEqual(state?.cursors.get("n2"), { epoch: "x", cursor: 7 });
  }
  assert.deepEqual(
    await storedKeys(dir),
    entries().map((e) => e.seq),
  );
}
