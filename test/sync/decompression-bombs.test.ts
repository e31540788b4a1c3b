import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32, deflateRawSync } from "node:zlib";
import { deflatedEnvelope } from "../../bench/attacks/envelopes.js";
import { syncSubjects } from "../../src/subjects.js";
import { startNode, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { rejectedCount } from "../support/peer-entries.js";
import { waitFor } from "../support/wait.js";

const nats = sharedNatsServer();
const MIB = 1 << 20;

test("decompression bombs and tiny payloads declaring 64 MiB are refused before inflating, counted, and change nothing", async (t) => {
  const prefix = "bombs";
  const [node] = [await startNode(nats.server.url, "n1", { subjectPrefix: prefix })];
  t.after(() => stopAll([node!]));
  const zeros = new Uint8Array(64 * MIB - 64);
  const bomb = deflatedEnvelope(deflateRawSync(zeros, { level: 9 }), zeros.length, crc32(zeros));
  const tiny = deflatedEnvelope(deflateRawSync(new Uint8Array(0)), 64 * MIB - 64, 0);
  const before = {
    digest: node!.store.digest(),
    tooLarge: await rejectedCount(node!, "too_large"),
    rss: process.memoryUsage().rss,
  };
  const subject = syncSubjects(prefix).announce;
  for (let i = 0; i < 30; i++) nats.nc.publish(subject, bomb);
  for (let i = 0; i < 200; i++) nats.nc.publish(subject, tiny);
  await nats.nc.flush();
  await waitFor(async () => (await rejectedCount(node!, "too_large")) >= before.tooLarge + 230, {
    timeoutMs: 10_000,
    message: "every bomb and tiny envelope counted",
  });
  // Each declares more than 128 times its deflated size: refused before inflating anything.
  assert.equal((await rejectedCount(node!, "too_large")) - before.tooLarge, 230);
  assert.deepEqual(node!.store.digest(), before.digest);
  assert.equal(node!.syncEngine.peers.size, 0);
  // 230 × 64 MiB declared: had one been allocated, the process would have grown by 64 MiB.
  assert.ok(
    process.memoryUsage().rss - before.rss < 48 * MIB,
    `${Math.round((process.memoryUsage().rss - before.rss) / MIB)} MiB more`,
  );
});
