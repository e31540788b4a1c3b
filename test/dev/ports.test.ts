import assert from "node:assert/strict";
import { test } from "node:test";
import { withPortsRedrawnOnClash } from "../../src/dev/ports.js";

const clash = () => new Error("listen tcp 127.0.0.1:31123: bind: address already in use");

test("a port taken between its choice and the bind is drawn again, and the start retried", async () => {
  let calls = 0;
  const started = await withPortsRedrawnOnClash(async () => {
    calls++;
    if (calls === 1) throw clash();
    return "up";
  });
  assert.equal(started, "up");
  assert.equal(calls, 2);
});

test("any other failure is thrown at once; a clash that persists is thrown after three tries", async () => {
  let calls = 0;
  await assert.rejects(
    withPortsRedrawnOnClash(async () => {
      calls++;
      throw new Error('unknown field "bogus_setting"');
    }),
    /bogus_setting/,
  );
  assert.equal(calls, 1);
  calls = 0;
  await assert.rejects(
    withPortsRedrawnOnClash(async () => {
      calls++;
      throw clash();
    }),
    /address already in use/,
  );
  assert.equal(calls, 3);
});
