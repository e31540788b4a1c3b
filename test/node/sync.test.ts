import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { connect, type NatsConnection } from "nats";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { converged, instance, startFleet, startNode, stopAll } from "./fleet.js";

const json = new TextEncoder();
const text = new TextDecoder();

async function request(
  nc: NatsConnection,
  subject: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const reply = await nc.request(subject, json.encode(JSON.stringify(body)), { timeout: 5_000 });
  return JSON.parse(text.decode(reply.data)) as Record<string, unknown>;
}

describe("sync between nodes", () => {
  const nats = sharedNatsServer();

  for (const size of [3, 5]) {
    test(`${size} nodes converge after writes spread over them`, async () => {
      const nodes = await startFleet(nats.server.url, size, { subjectPrefix: `conv${size}` });
      try {
        const writers = await Promise.all(nodes.map(() => connect({ servers: nats.server.url })));
        // Each write goes to one node (queue group); spread 60 writes, some updates and deletes.
        for (let i = 0; i < 60; i++) {
          const reply = await request(
            writers[i % size]!,
            `conv${size}.register`,
            instance(`svc${i % 4}`, `i${i}`),
          );
          assert.equal(reply.ok, true);
        }
        for (let i = 0; i < 60; i += 7)
          await request(nats.nc, `conv${size}.deregister`, { service: `svc${i % 4}`, id: `i${i}` });
        for (let i = 1; i < 60; i += 9)
          await request(nats.nc, `conv${size}.heartbeat`, {
            service: `svc${i % 4}`,
            id: `i${i}`,
            status: "unhealthy",
          });
        await waitFor(() => converged(nodes), {
          timeoutMs: 10_000,
          message: "digests equal on every node",
        });
        for (const node of nodes) {
          assert.equal(
            node.store.lookup({ service: "svc1" }, Date.now()).length,
            nodes[0]!.store.lookup({ service: "svc1" }, Date.now()).length,
          );
        }
        await Promise.all(writers.map((w) => w.close()));
      } finally {
        await stopAll(nodes);
      }
    });
  }

  test("a node started late catches up before it reports ready", async () => {
    const nodes = await startFleet(nats.server.url, 2, { subjectPrefix: "late" });
    let late: RegistryNode | undefined;
    try {
      for (let i = 0; i < 300; i++)
        await request(nats.nc, "late.register", instance("api", `i${i}`));
      late = await startNode(nats.server.url, "n9", { subjectPrefix: "late" });
      // start() resolves once the node is ready: it must already hold everything.
      assert.equal(late.isReady, true);
      assert.equal(late.store.lookup({ service: "api" }, Date.now()).length, 300);
      await waitFor(() => converged([...nodes, late!]), {
        timeoutMs: 5_000,
        message: "late node converged",
      });
    } finally {
      await stopAll(late ? [...nodes, late] : nodes);
    }
  });

  test("each change is published once, by the node that accepted it", async () => {
    const nodes = await startFleet(nats.server.url, 3, { subjectPrefix: "ev" });
    try {
      const seen: { type: string; id: string; node: string }[] = [];
      const sub = nats.nc.subscribe("ev.changes.>", {
        callback: (_e, m) =>
          seen.push(JSON.parse(text.decode(m.data)) as { type: string; id: string; node: string }),
      });
      for (let i = 0; i < 20; i++) await request(nats.nc, "ev.register", instance("web", `w${i}`));
      await request(nats.nc, "ev.register", instance("web", "w0", { port: 9090 }));
      await request(nats.nc, "ev.deregister", { service: "web", id: "w1" });
      await waitFor(() => converged(nodes), { timeoutMs: 5_000 });
      await nats.nc.flush();
      await new Promise((r) => setTimeout(r, 200));
      sub.unsubscribe();
      assert.equal(seen.filter((e) => e.type === "registered").length, 20);
      assert.deepEqual(
        seen.filter((e) => e.type === "updated").map((e) => e.id),
        ["w0"],
      );
      assert.deepEqual(
        seen.filter((e) => e.type === "deregistered").map((e) => e.id),
        ["w1"],
      );
    } finally {
      await stopAll(nodes);
    }
  });

  test("an expired lease is reported once, by the lease holder", async () => {
    const nodes = await startFleet(nats.server.url, 3, { subjectPrefix: "exp" });
    try {
      const expired: string[] = [];
      const sub = nats.nc.subscribe("exp.changes.>", {
        callback: (_e, m) => {
          const event = JSON.parse(text.decode(m.data)) as { type: string; id: string };
          if (event.type === "expired") expired.push(event.id);
        },
      });
      await request(nats.nc, "exp.register", instance("db", "d1", { ttlMs: 1_000 }));
      await waitFor(
        () => nodes.every((n) => n.store.lookup({ service: "db" }, Date.now()).length === 0),
        { timeoutMs: 5_000 },
      );
      await waitFor(() => expired.length >= 1, { timeoutMs: 5_000, message: "expiry reported" });
      await new Promise((r) => setTimeout(r, 500));
      sub.unsubscribe();
      assert.deepEqual(expired, ["d1"]);
    } finally {
      await stopAll(nodes);
    }
  });
});
