import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { GroupCommit } from "../../src/storage/group-commit.js";

/** A disk whose transactions finish when the test says so; it records what each one held. */
class ManualDisk {
  readonly groups: string[][] = [];
  queued: string[] = [];
  private finish: ((error?: Error) => void)[] = [];

  readonly writeGroup = (): Promise<unknown> => {
    this.groups.push(this.queued);
    this.queued = [];
    return new Promise<void>((resolve, reject) =>
      this.finish.push((error) => (error ? reject(error) : resolve())),
    );
  };

  /** Ends the oldest transaction still under way. */
  complete(error?: Error): void {
    this.finish.shift()?.(error);
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe("group commit", () => {
  test("writes queued in one turn share a transaction; those queued while it runs share the next", async () => {
    const disk = new ManualDisk();
    const group = new GroupCommit(disk.writeGroup, 1_000);
    const done: string[] = [];
    const write = (name: string) => {
      disk.queued.push(name);
      return group.join().then(() => done.push(name));
    };
    const first = [write("a"), write("b")];
    await turn();
    const second = [write("c"), write("d"), write("e")];
    await turn();
    assert.deepEqual(disk.groups, [["a", "b"]], "nothing more starts while a transaction runs");
    disk.complete();
    await Promise.all(first);
    await turn();
    assert.deepEqual(disk.groups, [
      ["a", "b"],
      ["c", "d", "e"],
    ]);
    assert.deepEqual(
      done,
      ["a", "b"],
      "a write is acknowledged only once its own group is durable",
    );
    disk.complete();
    await Promise.all(second);
    assert.deepEqual(done, ["a", "b", "c", "d", "e"]);
  });

  test("a lazy write starts no transaction; it rides with the next one", async () => {
    const disk = new ManualDisk();
    const group = new GroupCommit(disk.writeGroup, 1_000);
    disk.queued.push("cursor");
    const cursor = group.joinLazily();
    await turn();
    assert.deepEqual(disk.groups, []);
    disk.queued.push("entry");
    const entry = group.join();
    await turn();
    assert.deepEqual(disk.groups, [["cursor", "entry"]]);
    disk.complete();
    await Promise.all([cursor, entry]);
  });

  test("a lazy write alone is written after the delay", async () => {
    const disk = new ManualDisk();
    const group = new GroupCommit(disk.writeGroup, 20);
    disk.queued.push("cursor");
    const cursor = group.joinLazily();
    await sleep(5);
    assert.deepEqual(disk.groups, []);
    await sleep(40);
    assert.deepEqual(disk.groups, [["cursor"]]);
    disk.complete();
    await cursor;
  });

  test("a failed transaction rejects its writes alone; the next group still runs", async () => {
    const disk = new ManualDisk();
    const group = new GroupCommit(disk.writeGroup, 1_000);
    disk.queued.push("a");
    const failed = group.join();
    await turn();
    disk.queued.push("b");
    const next = group.join();
    disk.complete(new Error("disk full"));
    await assert.rejects(failed, /disk full/);
    await turn();
    disk.complete();
    await next;
    assert.deepEqual(disk.groups, [["a"], ["b"]]);
  });

  test("a writer that throws rejects the group instead of throwing at the caller", async () => {
    const group = new GroupCommit(() => {
      throw new Error("closed");
    }, 1_000);
    await assert.rejects(group.join(), /closed/);
  });

  test("drain writes lazy writes at once and waits for every transaction", async () => {
    const disk = new ManualDisk();
    const group = new GroupCommit(disk.writeGroup, 60_000);
    disk.queued.push("a");
    const a = group.join();
    await turn();
    disk.queued.push("cursor");
    const cursor = group.joinLazily();
    let drained = false;
    const draining = group.drain().then(() => {
      drained = true;
    });
    await turn();
    assert.equal(drained, false);
    disk.complete();
    await a;
    await turn();
    assert.deepEqual(disk.groups, [["a"], ["cursor"]]);
    assert.equal(drained, false);
    disk.complete();
    await Promise.all([cursor, draining]);
  });

  test("with a spacing, the next transaction starts no sooner than that after the last", async () => {
    const disk = new ManualDisk();
    // Wide margins: the assertions below must hold on a loaded machine too.
    let spacing = 300;
    const group = new GroupCommit(disk.writeGroup, 60_000, () => spacing);
    disk.queued.push("a");
    const a = group.join();
    const startedA = performance.now();
    await turn();
    disk.complete();
    await a;
    disk.queued.push("b");
    const b = group.join();
    await turn();
    assert.deepEqual(disk.groups, [["a"]], "b waits out the spacing");
    disk.queued.push("c");
    const c = group.join();
    await sleep(450);
    assert.deepEqual(disk.groups, [["a"], ["b", "c"]], "what came meanwhile went together");
    assert.ok(performance.now() - startedA >= 300);
    disk.complete();
    await Promise.all([b, c]);
    // No spacing asked: the next one starts in the same turn again.
    spacing = 0;
    disk.queued.push("d");
    const d = group.join();
    await turn();
    assert.deepEqual(disk.groups.at(-1), ["d"]);
    disk.complete();
    await d;
  });
});
