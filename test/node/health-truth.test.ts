import assert from "node:assert/strict";
import { test } from "node:test";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { startNode, stopAll } from "./fleet.js";

const shared = sharedNatsServer();

test("converged turns true right after a write, without waiting for a periodic announcement", async (t) => {
  // Periodic announcements a minute apart: only announcements after merges can tell the
  // writer that its peers hold the write.
  const slow = { syncIntervalMs: 60_000 };
  const nodes = [
    await startNode(shared.server.url, "conv-a", slow),
    await startNode(shared.server.url, "conv-b", slow),
    await startNode(shared.server.url, "conv-c", slow),
  ];
  t.after(() => stopAll(nodes));
  await waitFor(() => nodes.every((n) => n.status().peers.length === 2));
  await waitFor(() => nodes.every((n) => n.status().converged), { message: "converged at start" });
  for (let i = 0; i < 3; i++) {
    const body = { service: "api", id: `i${i}`, host: "10.0.0.1", port: 80 };
    await shared.nc.request("registry.register", new TextEncoder().encode(JSON.stringify(body)));
    await waitFor(
      () =>
        nodes.every((n) => n.store.digest().digest === nodes[0]!.store.digest().digest) &&
        nodes.every((n) => n.status().converged),
      { message: `every node converged after write ${i}` },
    );
  }
});

test("a killed peer turns silent and is dropped after the grace period; one that leaves too", async (t) => {
  const fast = { forgetPeerAfterMs: 1_000 };
  const watcher = await startNode(shared.server.url, "live-w", fast);
  const victim = await startNode(shared.server.url, "live-v", fast);
  const leaver = await startNode(shared.server.url, "live-l", fast);
  t.after(() => stopAll([watcher, victim, leaver]));
  const stateOf = (id: string) => watcher.status().peers.find((p) => p.id === id)?.state;
  await waitFor(() => stateOf("live-v") === "healthy" && stateOf("live-l") === "healthy");

  // As a SIGKILL would: the connection is gone, no leaving announcement is sent.
  await victim.connection.close();
  await leaver.stop();
  await waitFor(() => stateOf("live-v") === "silent", { message: "victim silent" });
  assert.equal(watcher.status().converged, true, "a silent peer does not block convergence");
  // The gauge follows at the next periodic announcement.
  await waitFor(async () => {
    const metrics = await watcher.metrics.registry.getSingleMetricAsString("regsync_peers");
    return /state="healthy"\} 0/.test(metrics) && /state="silent"\} 1/.test(metrics);
  });
  await waitFor(() => stateOf("live-v") === undefined && stateOf("live-l") === undefined, {
    timeoutMs: 15_000,
    message: "gone peers dropped",
  });
});
