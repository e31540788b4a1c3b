import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "nats";
import { RegistryClient } from "../../src/client/client.js";
import type { NodeState } from "../../src/node/lifecycle.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { sharedNatsServer } from "../support/nats.js";
import { sleep, waitFor } from "../support/wait.js";
import { converged, instance, startNode, stopAll } from "./fleet.js";

const json = new TextEncoder();
const text = new TextDecoder();

/** Registers `count` instances through the queue group, `inFlight` at a time. */
async function registerMany(
  nc: NatsConnection,
  prefix: string,
  count: number,
  from = 0,
  inFlight = 200,
): Promise<void> {
  for (let start = from; start < from + count; start += inFlight) {
    const batch = [];
    for (let i = start; i < Math.min(from + count, start + inFlight); i++) {
      batch.push(
        nc.request(`${prefix}.register`, json.encode(JSON.stringify(instance("bulk", `i${i}`))), {
          timeout: 10_000,
        }),
      );
    }
    for (const reply of await Promise.all(batch))
      assert.equal(JSON.parse(text.decode(reply.data)).ok, true);
  }
}

describe("a node's lifecycle", () => {
  const nats = sharedNatsServer();
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "regsync-lifecycle-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("a restarted durable node is ready only once it holds what peers wrote while it was down", async () => {
    // Default announce interval: a peer's periodic announcement will not come to the rescue.
    const settings = { subjectPrefix: "restart", memory: false, syncIntervalMs: 5_000 };
    let x = await startNode(nats.server.url, "x", { ...settings, dataDir: join(dir, "x") });
    const y = await startNode(nats.server.url, "y", { ...settings, dataDir: join(dir, "y") });
    try {
      await registerMany(nats.nc, "restart", 100);
      await waitFor(() => converged([x, y]), { message: "first convergence" });
      await x.stop();
      await registerMany(nats.nc, "restart", 500, 100);
      x = await startNode(nats.server.url, "x", { ...settings, dataDir: join(dir, "x") });
      assert.equal(x.state, "ready");
      assert.equal(x.store.size, 600, "ready means holding every entry peers announced");
    } finally {
      await stopAll([x, y]);
    }
  });

  test("a joining node takes no client request before it holds the registry, and says which state it is in", async () => {
    const prefix = "join";
    const first = await startNode(nats.server.url, "j1", { subjectPrefix: prefix });
    let joining: RegistryNode | undefined;
    try {
      await registerMany(nats.nc, prefix, 5_000);
      // Small pages make the bootstrap long enough to be seen.
      const started = startNode(nats.server.url, "j2", {
        subjectPrefix: prefix,
        batchMaxEntries: 50,
      });
      const codes = new Map<string, number>();
      const states = new Set<string>();
      const deadline = Date.now() + 30_000;
      let done = false;
      started.then(
        (node) => {
          joining = node;
          done = true;
        },
        () => {
          done = true;
        },
      );
      while (!done && Date.now() < deadline) {
        const [reply, info] = await Promise.all([
          nats.nc.request(`${prefix}.lookup`, json.encode('{"service":"bulk"}'), {
            timeout: 5_000,
          }),
          nats.nc
            .request("$SRV.INFO.registry", undefined, { timeout: 1_000 })
            .then((m) => JSON.parse(text.decode(m.data)))
            .catch(() => undefined),
        ]);
        const body = JSON.parse(text.decode(reply.data));
        const code = body.ok ? "ok" : body.error.code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (info?.metadata?.node === "j2") states.add(info.metadata.state);
      }
      joining = await started;
      assert.deepEqual([...codes.keys()], ["ok"], `replies while joining: ${[...codes]}`);
      assert.equal(joining.state, "ready");
      assert.equal(joining.status().state, "ready");
      assert.equal(joining.store.size, 5_000);
      for (const state of states)
        assert.ok(["starting", "bootstrapping", "catching-up", "ready"].includes(state), state);
    } finally {
      await stopAll(joining === undefined ? [first] : [first, joining]);
    }
  });

  test("while no node is ready, a client's call waits for one instead of failing", async () => {
    const prefix = "first-start";
    const client = new RegistryClient(nats.nc, { prefix, timeoutMs: 10_000 });
    const lookup = client.lookup("api");
    await sleep(300);
    const node = await startNode(nats.server.url, "f1", { subjectPrefix: prefix });
    try {
      assert.deepEqual(await lookup, []);
    } finally {
      await stopAll([node]);
    }
  });

  test("a stopping node hands its last writes to its peers before it leaves", async () => {
    const prefix = "handoff";
    // x announces its writes only when it stops: no change announcement (10 s coalescing),
    // no periodic one within the test.
    const x = await startNode(nats.server.url, "h1", {
      subjectPrefix: prefix,
      announceDelayMs: 10_000,
      syncIntervalMs: 60_000,
    });
    const y = await startNode(nats.server.url, "h2", { subjectPrefix: prefix });
    try {
      // Through the queue group until a write lands on x (each lands there half the time).
      let id: string | undefined;
      for (let i = 0; i < 64 && id === undefined; i++) {
        const reply = JSON.parse(
          text.decode(
            (
              await nats.nc.request(
                `${prefix}.register`,
                json.encode(JSON.stringify(instance("handoff", `w${i}`))),
              )
            ).data,
          ),
        ) as { ok: boolean; instance: { id: string; node: string } };
        assert.equal(reply.ok, true);
        if (reply.instance.node === "h1") id = reply.instance.id;
      }
      assert.ok(id !== undefined, "a write landed on h1");
      assert.equal(y.store.get("handoff", id), undefined, "h1 has not announced it yet");
      await x.stop();
      await waitFor(() => y.store.get("handoff", id) !== undefined, {
        timeoutMs: 2_000,
        message: "h2 holds the write h1 acknowledged before it left",
      });
    } finally {
      await stopAll([x, y]);
    }
  });

  test("a stopping node leaves the queue group first and answers what it took", async () => {
    const prefix = "leave";
    const a = await startNode(nats.server.url, "l1", { subjectPrefix: prefix });
    const b = await startNode(nats.server.url, "l2", { subjectPrefix: prefix });
    try {
      const states: NodeState[] = [];
      const stopped = b.stop().then(() => states.push(b.state));
      const replies = [];
      for (let i = 0; i < 200; i++)
        replies.push(nats.nc.request(`${prefix}.lookup`, json.encode('{"service":"x"}')));
      await stopped;
      for (const reply of await Promise.all(replies))
        assert.equal(JSON.parse(text.decode(reply.data)).ok, true);
      assert.deepEqual(states, ["stopping"]);
    } finally {
      await stopAll([a, b]);
    }
  });
});
