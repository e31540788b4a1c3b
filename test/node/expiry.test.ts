import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { RegistryClient } from "../../src/client/mod.js";
import { CHANGE_HEADERS } from "../../src/node/changes.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { instance, startNode, stopAll } from "./fleet.js";

const nats = sharedNatsServer();

/** Counts `expired` notifications per instance id on a prefix. */
function countExpired(prefix: string): Map<string, number> {
  const counts = new Map<string, number>();
  nats.nc.subscribe(`${prefix}.changes.>`, {
    callback: (_err, msg) => {
      const event = JSON.parse(new TextDecoder().decode(msg.data)) as { type: string; id: string };
      if (event.type !== "expired") return;
      assert.ok(msg.headers?.get(CHANGE_HEADERS.seq), "numbered");
      counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
    },
  });
  return counts;
}

/** A node cut off without saying goodbye, as if its process were killed. */
async function kill(node: RegistryNode): Promise<void> {
  await node.connection.close();
}

test("a lease whose owner is killed just before it lapses is reported exactly once", async (t) => {
  const prefix = "exp1";
  const nodes = await Promise.all(
    ["n1", "n2", "n3"].map((id) => startNode(nats.server.url, id, { subjectPrefix: prefix })),
  );
  t.after(() => stopAll(nodes));
  const counts = countExpired(prefix);
  await nats.nc.flush();
  const client = new RegistryClient(nats.nc, { prefix });
  const ids = Array.from({ length: 6 }, (_, i) => `x${i}`);
  for (const id of ids)
    await client.register(instance("short", id, { ttlMs: 1_500 }), { keepAlive: false });
  const owner = nodes.find((n) => n.id === nodes[0]!.store.get("short", "x0")?.node)!;
  // Killed while its peers still count it alive when the lease lapses.
  await sleep(1_200);
  await kill(owner);
  await waitFor(() => ids.every((id) => (counts.get(id) ?? 0) >= 1), {
    timeoutMs: 10_000,
    message: "every lapsed lease reported",
  });
  await sleep(1_000);
  assert.deepEqual(
    ids.map((id) => counts.get(id) ?? 0),
    ids.map(() => 1),
  );
});

test("a durable restart does not report again what was reported", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "regsync-expiry-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const prefix = "exp2";
  const settings = (id: string) => ({
    subjectPrefix: prefix,
    memory: false,
    dataDir: join(dir, id),
  });
  const n2 = await startNode(nats.server.url, "r2", settings("r2"));
  let n1 = await startNode(nats.server.url, "r1", settings("r1"));
  t.after(() => stopAll([n1, n2]));
  const counts = countExpired(prefix);
  await nats.nc.flush();
  const client = new RegistryClient(nats.nc, { prefix });
  const ids = Array.from({ length: 8 }, (_, i) => `y${i}`);
  for (const id of ids)
    await client.register(instance("short", id, { ttlMs: 1_000 }), { keepAlive: false });
  await waitFor(() => ids.every((id) => (counts.get(id) ?? 0) >= 1), {
    timeoutMs: 10_000,
    message: "every lapsed lease reported",
  });
  await n1.stop();
  n1 = await startNode(nats.server.url, "r1", settings("r1"));
  await waitFor(() => n1.isReady);
  // Give the restarted node's sweeps time to (wrongly) report again.
  await sleep(1_000);
  assert.deepEqual(
    ids.map((id) => counts.get(id) ?? 0),
    ids.map(() => 1),
  );
});
