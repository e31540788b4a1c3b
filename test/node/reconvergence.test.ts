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

test("a partition shorter than a period, with writes on both sides and none after the heal, converges once the route is back", async (t) => {
  const cluster = await withNatsCluster(t, { size: 2, proxiedRoutes: true });
  // A period far longer than the test, so neither side is ever overdue and no periodic
  // announcement can carry the writes across: only the missing echo of them can.
  const settings = { subjectPrefix: "quiet", syncIntervalMs: 60_000 };
  const a = await startNode(cluster.urls[0]!, "qa", settings);
  const b = await startNode(cluster.urls[1]!, "qb", settings);
  const ncs = await Promise.all(cluster.urls.map((url) => connect({ servers: url })));
  try {
    await waitFor(() => a.syncEngine.peers.has("qb") && b.syncEngine.peers.has("qa"), {
      message: "the nodes know each other",
    });
    cluster.partition([0]);
    await waitFor(async () => !(await cluster.connected(0, 1)), {
      timeoutMs: 10_000,
      message: "the route is cut",
    });
    for (const [side, nc] of ncs.entries())
      for (let i = 0; i < 10; i++) {
        const reply = await nc.request(
          "quiet.register",
          json.encode(JSON.stringify(instance("api", `side${side}-${i}`))),
          { timeout: 5_000 },
        );
        assert.equal(JSON.parse(new TextDecoder().decode(reply.data)).ok, true);
      }
    cluster.heal();
    await waitFor(() => cluster.connected(0, 1), {
      timeoutMs: 15_000,
      message: "the route is back",
    });
    await waitFor(() => converged([a, b]), {
      timeoutMs: 15_000,
      message: "both sides hold the other's writes well before a period",
    });
    assert.equal(a.store.size, 20);
  } finally {
    await Promise.allSettled(ncs.map((nc) => nc.close()));
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
