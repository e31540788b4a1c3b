import assert from "node:assert/strict";
import {
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  readGeneration,
  WalCorruptError,
  WriteAheadLog,
  walFile,
} from "../../src/storage/write-ahead-log.js";

interface Group {
  n: number;
  body: string;
}

function group(n: number): Group {
  return { n, body: `group ${n} `.repeat(1 + (n % 7)) };
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "regsync-wal-"));
  try {
    await run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function written(dir: string, generation: number, groups: number[]): Promise<void> {
  const log = WriteAheadLog.start<Group>(dir, generation);
  for (const n of groups) await log.append(group(n));
  log.close();
}

test("frames come back in the order they were appended", () =>
  withDir(async (dir) => {
    await written(dir, 0, [1, 2, 3, 4, 5]);
    assert.deepEqual(readGeneration<Group>(dir, 0), [1, 2, 3, 4, 5].map(group));
    assert.deepEqual(readGeneration<Group>(dir, 1), [], "no file, no frames");
  }));

test("a torn last frame ends the log: the frames before it are all there", () =>
  withDir(async (dir) => {
    await written(dir, 0, [1, 2, 3]);
    const size = statSync(walFile(dir, 0)).size;
    for (const cut of [1, 5, 20]) {
      truncateSync(walFile(dir, 0), size - cut);
      assert.deepEqual(readGeneration<Group>(dir, 0), [1, 2].map(group), `${cut} bytes short`);
    }
  }));

test("a corrupt frame with frames after it is refused, whether its body or its length is hit", () =>
  withDir(async (dir) => {
    await written(dir, 0, [1, 2, 3]);
    const clean = readFileSync(walFile(dir, 0));
    for (const at of [2, 12, 30]) {
      const bytes = Buffer.from(clean);
      bytes[at] = bytes[at]! ^ 0xff;
      writeFileSync(walFile(dir, 0), bytes);
      assert.throws(() => readGeneration<Group>(dir, 0), WalCorruptError, `byte ${at} flipped`);
    }
  }));

test("a generation written over an older one's file ends where its own frames end", () =>
  withDir(async (dir) => {
    await written(dir, 0, [1, 2, 3, 4, 5, 6]);
    await written(dir, 1, [7]);
    await written(dir, 2, [8, 9]);
    assert.deepEqual(readGeneration<Group>(dir, 2), [8, 9].map(group));
    assert.deepEqual(readGeneration<Group>(dir, 1), [7].map(group));
    assert.deepEqual(readGeneration<Group>(dir, 0), [], "written over: generation 0 is gone");
  }));

test("a torn frame written over an older generation ends the log too", () =>
  withDir(async (dir) => {
    await written(dir, 0, [1, 2, 3, 4, 5, 6]);
    const old = readFileSync(walFile(dir, 0));
    await written(dir, 2, [8, 9]);
    assert.equal(readGeneration<Group>(dir, 2).length, 2);
    // Frame 9 half written over generation 0's bytes.
    const bytes = readFileSync(walFile(dir, 0));
    const firstLength = bytes.readUInt32BE(0) + 4;
    const secondLength = bytes.readUInt32BE(firstLength) + 4;
    const torn = Buffer.concat([
      bytes.subarray(0, firstLength + Math.floor(secondLength / 2)),
      old.subarray(firstLength + Math.floor(secondLength / 2)),
    ]);
    writeFileSync(walFile(dir, 0), torn);
    assert.deepEqual(readGeneration<Group>(dir, 2), [8].map(group));
  }));

test("the next generation goes to the other file; appends after a restart start it over", () =>
  withDir(async (dir) => {
    const log = WriteAheadLog.start<Group>(dir, 4);
    await log.append(group(1));
    log.nextGeneration();
    assert.equal(log.generation, 5);
    await log.append(group(2));
    log.close();
    assert.deepEqual(readGeneration<Group>(dir, 4), [group(1)]);
    assert.deepEqual(readGeneration<Group>(dir, 5), [group(2)]);
    await written(dir, 6, [3]);
    assert.deepEqual(readGeneration<Group>(dir, 6), [group(3)]);
  }));

// An append resolves once its frame is on disk because the file is opened O_DSYNC: no fdatasync
// follows the write. Losing the flag would lose acknowledged writes at a power cut, and no other
// test would notice: the kernel's view of the open file says whether it is there.
test(
  "the log file is open for synchronised writes",
  {
    skip: process.platform !== "linux" && "reads /proc/self/fdinfo",
  },
  () =>
    withDir(async (dir) => {
      const log = WriteAheadLog.start<Group>(dir, 0);
      try {
        await log.append(group(1));
        const path = walFile(dir, 0);
        const fd = readdirSync("/proc/self/fd").find((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`) === path;
          } catch {
            return false; // closed since the listing
          }
        });
        assert.ok(fd !== undefined, "the log's file is open");
        const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
        assert.ok(flags, "fdinfo gives the file's flags");
        assert.equal(Number.parseInt(flags[1]!, 8) & constants.O_DSYNC, constants.O_DSYNC);
      } finally {
        log.close();
      }
    }),
);
