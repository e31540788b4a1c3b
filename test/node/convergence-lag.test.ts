import assert from "node:assert/strict";
import { test } from "node:test";
import { InstanceSchema } from "../../src/core/mod.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { startNode, stopAll } from "./fleet.js";

const nats = sharedNatsServer();

async function lag(node: RegistryNode): Promise<number> {
  return (await node.metrics.convergenceLag.get()).values[0]?.value ?? 0;
}

test("convergence lag grows while a peer's digest differs and drops to 0 once they agree", async (t) => {
  const prefix = "lag";
  const honest = await startNode(nats.server.url, "lag1", { subjectPrefix: prefix });
  // A peer 60 s ahead: its own write is refused by the honest node, so their digests differ.
  const fast = await startNode(
    nats.server.url,
    "lag2",
    { subjectPrefix: prefix },
    () => Date.now() + 60_000,
  );
  t.after(() => stopAll([honest, fast]));
  await waitFor(async () => (await lag(honest)) === 0, { message: "agree at first" });
  fast.store.register(InstanceSchema.parse({ service: "lag", id: "k", host: "10.0.0.1", port: 1 }));
  fast.syncEngine.notifyChange();
  await waitFor(async () => (await lag(honest)) >= 0.5, { message: "lag measured" });
  // The peer leaves: the honest node agrees with every live peer again.
  await fast.stop();
  await waitFor(async () => (await lag(honest)) === 0, { message: "lag back to 0" });
  assert.equal(await lag(honest), 0);
});
