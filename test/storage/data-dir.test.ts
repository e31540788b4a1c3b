import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  closeSync,
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
import { type Entry, InstanceSchema, instanceBody, newEntry, packHlc } from "../../src/core/mod.js";
import { LmdbStorage } from "../../src/storage/lmdb-storage.js";

const STORAGE_MODULE = new URL("../../src/storage/lmdb-storage.js", import.meta.url).href;
const ENTRIES = 64;

function entries(): Entry[] {
  return Array.from({ length: ENTRIES }, (_, i) => {
    const instance = InstanceSchema.parse({
      service: "api",
      id: `a${i}`,
      host: `host-${i}`,
      port: 80,
    });
    const entry = newEntry({
      service: "api",
      id: `a${i}`,
      hlc: packHlc(1_700_000_000_000 + i, 0),
      node: "n1",
      body: instanceBody(instance),
      status: "running",
      ver: "",
      ttlMs: 30_000,
      registeredAt: 1_700_000_000_000,
    });
    entry.seq = i + 1;
    return entry;
  });
}

async function populate(dir: string): Promise<void> {
  const storage = new LmdbStorage(dir, "n1");
  assert.equal(storage.load(), undefined);
  await storage.initialise("epoch-1");
  await storage.commit(entries(), ENTRIES);
  await storage.close();
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
    for (let at = data.indexOf("host-17"); at >= 0; at = data.indexOf("host-17", at + 1), copies++)
      overwrite(file, at, Buffer.from("hast-17"));
    assert.ok(copies > 0);
    const child = loadInChild(dir);
    assert.match(
      child.out,
      /refused: DataDirError: .*corrupt entry api\/a17 \(checksum mismatch\)/,
    );
  });

  test("a zeroed data page is refused, never read as an empty replica", async () => {
    const dir = fresh();
    await populate(dir);
    const file = join(dir, "data.mdb");
    const { pageSize } = metaLayout(file);
    const data = readFileSync(file);
    for (let at = data.indexOf("host-40"); at >= 0; at = data.indexOf("host-40", at + 1))
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

  test("a format-1 directory is migrated once, with every entry", async () => {
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
    for (let round = 0; round < 2; round++) {
      const storage = new LmdbStorage(dir, "n1");
      const state = storage.load();
      await storage.close();
      assert.equal(state?.epoch, "old");
      assert.equal(state?.entries.length, ENTRIES);
      assert.equal(state?.entries[5]?.body, entries()[5]?.body);
      assert.deepEqual(state?.cursors.get("n2"), { epoch: "x", cursor: 7 });
    }
  });
});
