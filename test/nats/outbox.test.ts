import assert from "node:assert/strict";
import { test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { Outbox } from "../../src/nats/outbox.js";

const noErrors = (error: unknown) => assert.fail(`a publish failed: ${String(error)}`);

test("what a turn sends, promise hops apart, is published together at its end, in order", async () => {
  const outbox = new Outbox(noErrors);
  const published: string[] = [];
  const send = (name: string) =>
    outbox.send(() => {
      published.push(name);
      // nats.js writes its buffer in a microtask queued by the first publish: it must come
      // after every message of the turn.
      if (published.length === 1) queueMicrotask(() => published.push("socket write"));
    });
  send("event");
  void Promise.resolve()
    .then(() => send("reply"))
    .then(() => send("announcement"));
  await Promise.resolve();
  assert.deepEqual(published, [], "nothing leaves inside the turn");
  await nextTurn();
  assert.deepEqual(published, ["event", "reply", "announcement", "socket write"]);
});

test("flush sends what waits at once, and the turn's end sends nothing twice", async () => {
  const outbox = new Outbox(noErrors);
  const published: number[] = [];
  outbox.send(() => published.push(1));
  outbox.flush();
  assert.deepEqual(published, [1]);
  await nextTurn();
  assert.deepEqual(published, [1]);
  outbox.send(() => published.push(2));
  await nextTurn();
  assert.deepEqual(published, [1, 2], "a send after a flush is scheduled again");
});

test("a message the connection refuses is reported, and the rest still leave", async () => {
  const errors: unknown[] = [];
  const outbox = new Outbox((error) => errors.push(error));
  const published: string[] = [];
  outbox.send(() => published.push("first"));
  outbox.send(() => {
    throw new Error("connection closed");
  });
  outbox.send(() => published.push("third"));
  await nextTurn();
  assert.deepEqual(published, ["first", "third"]);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /connection closed/);
});
