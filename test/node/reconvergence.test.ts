import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, type NatsConnection } from "nats";
import type { RegistryNode } from "../../src/node/registry-node.js";
import type { TestCluster } from "../support/cluster.js";
import { withNatsCluster } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { converged, instance, startNode, stopAll } from "./fleet.js";

const json = new TextEncoder();

test("a node whose NATS server comes back announces and asks for heads at once, not a period later", async (t) => {
  const cluster = await withNatsCluster(t, { size: 2 });
  // A period far longer than the test: only the reconnect itself can resynchronise.
  const settings = { subjectPrefix: "reco", syncIntervalMs: 60_000 };
  const a = await startNode(cluster.urls[0]!, "ra", settings);
  const b = await startNode(cluster.urls[1]!, "rb", settings);
  const nc = await connect({ servers: cluster.urls[0]! });
  try {
    await exercise(cluster, a, b, nc);
  } finally {
    // Before the cluster stops (t.after): a node draining against no server waits forever.
    await nc.close();
    await stopAll([a, b]);
  }
});

async function exercise(
  cluster: TestCluster,
  a: RegistryNode,
  b: RegistryNode,
  nc: NatsConnection,
): Promise<void> {
  await waitFor(() => a.syncEngine.peers.has("rb") && b.syncEngine.peers.has("ra"), {
    message: "the nodes know each other",
  });
  await cluster.servers[1]!.kill();
  // All at once, before b's client fails over to the other server: no later write's
  // announcement can reveal them to b.
  const replies = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      nc.request("reco.register", json.encode(JSON.stringify(instance("api", `down-${i}`))), {
        timeout: 5_000,
      }),
    ),
  );
  for (const reply of replies)
    assert.equal(JSON.parse(new TextDecoder().decode(reply.data)).ok, true);
  await cluster.servers[1]!.restart();
  await waitFor(() => converged([a, b]), {
    timeoutMs: 15_000,
    message: "the node that lost its server holds what was written meanwhile",
  });
  assert.equal(b.store.size, 50);
}
