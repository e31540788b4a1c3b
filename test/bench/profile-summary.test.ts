import assert from "node:assert/strict";
import { test } from "node:test";
import { summarise } from "../../bench/profile-summary.js";

const frame = (functionName: string, url = "") => ({ functionName, url });

/** root → register (api) → commit (lmdb); root → (idle); root → parseJson (api). */
const profile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 4, 5] },
    { id: 2, callFrame: frame("register", "file:///x/dist/src/core/store.js"), children: [3] },
    { id: 3, callFrame: frame("put", "file:///x/node_modules/lmdb/write.js") },
    { id: 4, callFrame: frame("(idle)") },
    { id: 5, callFrame: frame("parseJson", "file:///x/dist/src/node/api.js") },
  ],
  samples: [3, 3, 4, 5, 2],
  timeDeltas: [100, 100, 1_000, 50, 25],
};

test("profile summary: the most specific category wins, idle is left out", () => {
  const { micros, totalMicros } = summarise([profile]);
  assert.equal(micros.get("LMDB commit"), 200, "LMDB under a client write counts as LMDB");
  assert.equal(micros.get("client request parse + validation"), 50);
  assert.equal(micros.get("store write (client)"), 25);
  assert.equal(totalMicros, 275);
  assert.equal(
    [...micros.values()].reduce((a, b) => a + b, 0),
    275,
  );
});
