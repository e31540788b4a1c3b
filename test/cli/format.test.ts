import assert from "node:assert/strict";
import { test } from "node:test";
import { table, terminalSafe } from "../../src/cli/format.js";

test("table cells cannot move the cursor, clear the screen or reorder text", () => {
  const hostile = "10.0.0.1\r\u001b[2K\u001b[1Agood-1  10.9.9.9:80\u202e08:9.9.9.01\u2066x\u0085";
  const out = table(["id", "address"], [["evil", hostile]]);
  assert.doesNotMatch(out.replaceAll("\n", ""), /\p{Cc}/u);
  assert.doesNotMatch(out, /[\u202a-\u202e\u2066-\u2069]/);
  assert.equal(out.split("\n").length, 3, "one row stays one line");
  assert.match(out, /\\u\{1b\}\[2K/);
  assert.match(out, /\\u\{202e\}/);
  assert.equal(terminalSafe("plain text, ünïcode ✓"), "plain text, ünïcode ✓");
});
