import assert from "node:assert/strict";
import { test } from "node:test";
import { hlcWall, InstanceSchema } from "../../src/core/mod.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { startNode, stopAll } from "./fleet.js";

const nats = sharedNatsServer();

/** A write made on one node, as its API would make it, then announced to the peers. */
function writeOn(node: RegistryNode, id: string, port: number): void {
  node.store.register(
    InstanceSchema.parse({ service: "clock", id, host: "10.0.0.1", port, ttlMs: 3_600_000 }),
  );
  node.syncEngine.notifyChange();
}

async function skewRejections(node: RegistryNode): Promise<number> {
  const rejected = await node.metrics.entriesRejected.get();
  return rejected.values.find((v) => v.labels.reason === "clock_skew")?.value ?? 0;
}

test("a node 60 s ahead loses no honest write and moves no honest clock, even once time catches up", async () => {
  // Every node reads real time plus `passed`, which the test advances to let time go by.
  let passed = 0;
  const honestClock = () => Date.now() + passed;
  const prefix = "skew60";
  const h1 = await startNode(nats.server.url, "h1", { subjectPrefix: prefix }, honestClock);
  const h2 = await startNode(nats.server.url, "h2", { subjectPrefix: prefix }, honestClock);
  const fast = await startNode(
    nats.server.url,
    "fast",
    { subjectPrefix: prefix },
    () => honestClock() + 60_000,
  );
  const nodes = [h1, h2, fast];
  try {
    writeOn(fast, "k", 1);
    await waitFor(async () => (await skewRejections(h1)) > 0 && (await skewRejections(h2)) > 0, {
      message: "the write from the future rejected by both honest nodes",
    });
    // Later in real time, an honest node writes the same key.
    writeOn(h1, "k", 2);
    await waitFor(() => h2.store.get("clock", "k")?.node === "h1", {
      message: "the honest write replicated",
    });
    // Forty seconds pass: the early write is now within the skew bound by wall time.
    passed += 40_000;
    const before = await skewRejections(h2);
    await waitFor(async () => (await skewRejections(h2)) > before, {
      timeoutMs: 10_000,
      message: "the early write offered again",
    });
    for (const node of [h1, h2]) {
      const held = node.store.get("clock", "k");
      assert.equal(held?.node, "h1", `${node.id} lost the honest write`);
      const aheadMs = hlcWall(node.store.clock.peek()) - honestClock();
      assert.ok(aheadMs <= 1_000, `${node.id}'s clock was moved ${aheadMs} ms ahead`);
    }
  } finally {
    await stopAll(nodes);
  }
});
