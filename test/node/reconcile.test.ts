import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { connect, type NatsConnection } from "nats";
import { startNatsServer } from "../../src/dev/nats-server.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { sharedNatsServer } from "../support/nats.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { waitFor } from "../support/wait.js";
import { converged, instance, startNode, stopAll } from "./fleet.js";

const json = new TextEncoder();

async function counter(
  node: RegistryNode,
  name: "syncBytes" | "reconciliations",
  labels: Record<string, string>,
): Promise<number> {
  const metric = await node.metrics[name].get();
  return metric.values
    .filter((v) =>
      Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

async function register(
  nc: NatsConnection,
  prefix: string,
  service: string,
  count: number,
  from = 0,
): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await nc.request(
      `${prefix}.register`,
      json.encode(JSON.stringify(instance(service, `i${i}`))),
      { timeout: 5_000 },
    );
  }
}

describe("differential reconciliation", () => {
  const nats = sharedNatsServer();

  test("a node that rejoins with a new history bootstraps from one peer; the others reconcile, not re-send", async () => {
    const prefix = "rejoin";
    const a = await startNode(nats.server.url, "a", { subjectPrefix: prefix });
    const b = await startNode(nats.server.url, "b", { subjectPrefix: prefix });
    let c = await startNode(nats.server.url, "c", { subjectPrefix: prefix });
    try {
      await register(nats.nc, prefix, "bulk", 3_000);
      await waitFor(() => converged([a, b, c]), {
        timeoutMs: 10_000,
        message: "initial convergence",
      });
      await c.stop();
      const sentBefore = {
        a: await counter(a, "syncBytes", { direction: "out", stage: "wire" }),
        b: await counter(b, "syncBytes", { direction: "out", stage: "wire" }),
      };
      c = await startNode(nats.server.url, "c", { subjectPrefix: prefix });
      await waitFor(() => converged([a, b, c]), {
        timeoutMs: 10_000,
        message: "rejoined node converged",
      });
      const fullState = await counter(c, "syncBytes", { direction: "in", stage: "wire" });
      // One peer streamed everything to c; the other only reconciled with it.
      const outA =
        (await counter(a, "syncBytes", { direction: "out", stage: "wire" })) - sentBefore.a;
      const outB =
        (await counter(b, "syncBytes", { direction: "out", stage: "wire" })) - sentBefore.b;
      const streamer = Math.max(outA, outB);
      const reconciler = Math.min(outA, outB);
      assert.ok(
        reconciler < streamer / 5,
        `second peer sent ${reconciler} B, the streamer ${streamer} B`,
      );
      assert.ok(fullState > 0);
      assert.ok(
        (await counter(c, "reconciliations", { outcome: "ok" })) >= 1,
        "c reconciled with the other peer",
      );
    } finally {
      await stopAll([a, b, c]);
    }
  });

  test("two nodes diverged by a partition converge, moving the differences and not the registry", async () => {
    // Two servers joined by one route through a proxy: cutting it partitions the cluster.
    const left = await startNatsServer({
      config: "cluster { name: rs, listen: 127.0.0.1:-1 }",
      monitor: true,
    });
    const routes = await fetch(`${left.monitorUrl}/varz`).then(
      (r) => r.json() as Promise<{ cluster: { addr: string; cluster_port: number } }>,
    );
    const proxy = await TcpProxy.start(routes.cluster.cluster_port);
    const right = await startNatsServer({
      config: `cluster { name: rs, listen: 127.0.0.1:-1, routes: ["nats-route://127.0.0.1:${proxy.port}"] }`,
    });
    const prefix = "part";
    const x = await startNode(left.url, "x", { subjectPrefix: prefix });
    const y = await startNode(right.url, "y", { subjectPrefix: prefix });
    const ncLeft = await connect({ servers: left.url });
    const ncRight = await connect({ servers: right.url });
    try {
      await waitFor(() => x.syncEngine.peers.has("y") && y.syncEngine.peers.has("x"), {
        timeoutMs: 10_000,
        message: "route up",
      });
      await register(ncLeft, prefix, "shared", 2_000);
      await waitFor(() => converged([x, y]), {
        timeoutMs: 10_000,
        message: "converged before the partition",
      });
      const bytesBefore = await counter(y, "syncBytes", { direction: "in", stage: "wire" });
      proxy.cut();
      await new Promise((r) => setTimeout(r, 300));
      // Both sides write: new keys, the same keys (conflicts) and deletions.
      await register(ncLeft, prefix, "left", 30);
      await register(ncRight, prefix, "right", 30);
      for (let i = 0; i < 20; i++) {
        await ncLeft.request(
          `${prefix}.register`,
          json.encode(JSON.stringify(instance("shared", `i${i}`, { port: 1_000 + i }))),
        );
        await ncRight.request(
          `${prefix}.register`,
          json.encode(JSON.stringify(instance("shared", `i${i}`, { port: 2_000 + i }))),
        );
        await ncRight.request(
          `${prefix}.deregister`,
          json.encode(JSON.stringify({ service: "shared", id: `i${100 + i}` })),
        );
      }
      assert.notEqual(x.store.digest().digest, y.store.digest().digest);
      proxy.heal();
      await waitFor(() => converged([x, y]), {
        timeoutMs: 20_000,
        message: "converged after the heal",
      });
      const moved =
        (await counter(y, "syncBytes", { direction: "in", stage: "wire" })) - bytesBefore;
      assert.ok(
        moved < bytesBefore / 4,
        `heal moved ${moved} B; the full state took ${bytesBefore} B`,
      );
      // Last writer wins on the conflicting keys, the same on both sides.
      for (let i = 0; i < 20; i++)
        assert.equal(x.store.get("shared", `i${i}`)?.hlc, y.store.get("shared", `i${i}`)?.hlc);
      assert.equal(x.store.lookup({ service: "shared" }, Date.now()).length, 1_980);
    } finally {
      await ncLeft.close();
      await ncRight.close();
      await stopAll([x, y]);
      await proxy.close();
      await right.stop();
      await left.stop();
    }
  });
});
