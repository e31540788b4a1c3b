import assert from "node:assert/strict";
import { test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { RequestPacer } from "../../src/node/request-pacer.js";

const noFailures = (error: unknown) => assert.fail(`a request failed: ${String(error)}`);

test("requests run in arrival order, a budget's worth per event-loop turn", async () => {
  let clock = 0;
  // Each request costs 0.2 ms of the fake clock: a 0.5 ms budget runs three per turn.
  const pacer = new RequestPacer(noFailures, 0.5, () => clock);
  const ran: number[] = [];
  for (let i = 0; i < 7; i++) {
    pacer.submit(async () => {
      ran.push(i);
      clock += 0.2;
    });
  }
  assert.deepEqual(ran, [], "nothing runs inside the turn that submitted");
  await nextTurn();
  assert.deepEqual(ran, [0, 1, 2]);
  await nextTurn();
  assert.deepEqual(ran, [0, 1, 2, 3, 4, 5]);
  await pacer.idle();
  assert.deepEqual(ran, [0, 1, 2, 3, 4, 5, 6]);
});

test("idle waits for requests still answering", async () => {
  const pacer = new RequestPacer(noFailures);
  let release!: () => void;
  const answered: string[] = [];
  pacer.submit(async () => {
    await new Promise<void>((resolve) => {
      release = resolve;
    });
    answered.push("slow");
  });
  pacer.submit(async () => {
    answered.push("fast");
  });
  const idle = pacer.idle().then(() => answered.push("idle"));
  await nextTurn();
  assert.deepEqual(answered, ["fast"]);
  release();
  await idle;
  assert.deepEqual(answered, ["fast", "slow", "idle"]);
  await pacer.idle();
});

test("a long backlog is worked off in order", async () => {
  const pacer = new RequestPacer(noFailures, 0);
  const ran: number[] = [];
  for (let i = 0; i < 10_000; i++) pacer.submit(async () => void ran.push(i));
  await pacer.idle();
  assert.equal(ran.length, 10_000);
  assert.ok(ran.every((value, index) => value === index));
});

test("a request that fails instead of answering is reported and still counts as done", async () => {
  const errors: unknown[] = [];
  const pacer = new RequestPacer((error) => errors.push(error));
  pacer.submit(async () => {
    throw new Error("connection closed");
  });
  await pacer.idle();
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /connection closed/);
});
