import assert from "node:assert/strict";
import { test } from "node:test";
import { summarise } from "../../bench/profile-summary.js";

const frame = (functionName: string, url = "") => ({ functionName, url });

/** root → register (api) → commit (lmdb) → writeBuffer (an ack sent as the commit resolves);
 * root → (idle); root → parseJson (api). */
const profile = {
  nodes: [
    { id: 1, callFrame: frame("(root)"), children: [2, 4, 5] },
    { id: 2, callFrame: frame("register", "file:///x/dist/src/core/store.js"), children: [3] },
    { id: 3, callFrame: frame("put", "file:///x/node_modules/lmdb/write.js"), children: [6] },
    { id: 4, callFrame: frame("(idle)") },
    { id: 5, callFrame: frame("parseJson", "file:///x/dist/src/node/api.js") },
    { id: 6, callFrame: frame("writeBuffer") },
  ],
  samples: [3, 3, 4, 5, 2, 6],
  timeDeltas: [100, 100, 1_000, 50, 25, 10],
};

test("profile summary: the most specific category wins, idle is left out", () => {
  const { micros, totalMicros } = summarise([profile]);
  assert.equal(micros.get("LMDB commit"), 200, "LMDB under a client write counts as LMDB");
  assert.equal(micros.get("client request parse + validation"), 50);
  assert.equal(micros.get("store write (client)"), 25);
  assert.equal(micros.get("socket writes"), 10, "a socket write counts as such wherever it is");
  assert.equal(totalMicros, 285);
  assert.equal(
    [...micros.values()].reduce((a, b) => a + b, 0),
    285,
  );
});
