import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { RegistryClient } from "../../src/client/mod.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { instance, startNode, stopAll } from "./fleet.js";

const nats = sharedNatsServer();

const FREEZE = {
  selfPreservationThreshold: 0.5,
  selfPreservationWindowMs: 6_000,
  selfPreservationMinLeases: 10,
};

/** Registers `count` instances and renews each once, as live services do. */
async function renewed(
  client: RegistryClient,
  service: string,
  count: number,
  ttlMs: number,
): Promise<void> {
  for (let i = 0; i < count; i++)
    await client.register(instance(service, `${service}${i}`, { ttlMs }), { keepAlive: false });
  for (let i = 0; i < count; i++) await client.heartbeat(service, `${service}${i}`);
}

test("a freeze keeps what was visible, renews heartbeats, thaws, and reports each lapse once", async (t) => {
  const prefix = "sp1";
  const node = await startNode(nats.server.url, "sp", { subjectPrefix: prefix, ...FREEZE });
  t.after(() => stopAll([node]));
  const expired = new Map<string, number>();
  const sub = nats.nc.subscribe(`${prefix}.changes.>`, {
    callback: (_err, msg) => {
      const e = JSON.parse(new TextDecoder().decode(msg.data)) as { type: string; id: string };
      if (e.type === "expired") expired.set(e.id, (expired.get(e.id) ?? 0) + 1);
    },
  });
  t.after(() => sub.unsubscribe());
  const client = new RegistryClient(nats.nc, { prefix });
  await renewed(client, "stable", 10, 60_000);
  await renewed(client, "mid", 10, 3_000);
  // Twenty-five services cut off together: their renewals stop, their leases lapse at once.
  await renewed(client, "edge", 25, 1_000);
  await waitFor(() => node.status().selfPreservation, {
    timeoutMs: 10_000,
    message: "self-preservation active",
  });
  assert.equal((await node.metrics.selfPreservation.get()).values[0]?.value, 1);
  // No jump back: what lookups hid before the freeze stays hidden, the rest stays visible.
  assert.equal((await client.lookup("edge")).length, 0);
  assert.equal((await client.lookup("mid")).length, 10);
  // The mid leases pass by the real clock while frozen; their renewals must still succeed.
  await sleep(2_500);
  for (let i = 0; i < 10; i++) await client.heartbeat("mid", `mid${i}`);
  // The mid services keep renewing, as live services do, until the freeze has thawed.
  for (let round = 0; round < 20 && node.status().selfPreservation; round++) {
    await sleep(1_000);
    for (let i = 0; i < 10; i++) await client.heartbeat("mid", `mid${i}`);
  }
  assert.equal(node.status().selfPreservation, false, "expiry resumed");
  await waitFor(() => expired.size === 25, { timeoutMs: 10_000, message: "lapses reported" });
  await sleep(500);
  assert.deepEqual([...expired.values()], Array(25).fill(1));
  assert.deepEqual(
    [...expired.keys()].sort(),
    Array.from({ length: 25 }, (_, i) => `edge${i}`).sort(),
  );
  assert.equal((await client.lookup("mid")).length, 10);
});

test("many short junk leases that were never renewed cannot trip the freeze", async (t) => {
  const prefix = "sp2";
  const node = await startNode(nats.server.url, "sp2", { subjectPrefix: prefix, ...FREEZE });
  t.after(() => stopAll([node]));
  const client = new RegistryClient(nats.nc, { prefix });
  await renewed(client, "real", 20, 60_000);
  // One real instance crashes after its first renewal: the junk must not keep it in lookups.
  await renewed(client, "crashed", 1, 1_000);
  for (let i = 0; i < 150; i++)
    await client.register(instance("junk", `j${i}`, { ttlMs: 1_000 }), { keepAlive: false });
  let everFrozen = false;
  await waitFor(
    async () => {
      everFrozen ||= node.status().selfPreservation;
      return (
        node.store.lookup({ service: "junk" }, Date.now()).length === 0 &&
        (await client.lookup("crashed")).length === 0
      );
    },
    { timeoutMs: 5_000, message: "junk and the crashed instance expired" },
  );
  for (let i = 0; i < 10; i++) {
    await sleep(50);
    everFrozen ||= node.status().selfPreservation;
  }
  assert.equal(everFrozen, false, "the junk froze expiry");
});

test("a trickle of lapses expires normally", async (t) => {
  const prefix = "trickle";
  const node = await startNode(nats.server.url, "sp3", { subjectPrefix: prefix, ...FREEZE });
  t.after(() => stopAll([node]));
  const client = new RegistryClient(nats.nc, { prefix });
  await renewed(client, "api", 28, 60_000);
  await renewed(client, "gone", 2, 1_000);
  await waitFor(() => node.store.lookup({ service: "gone" }, Date.now()).length === 0, {
    timeoutMs: 5_000,
  });
  await sleep(300);
  assert.equal(node.status().selfPreservation, false);
});

test("leases that lapsed while a durable node was down do not freeze it at restart", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "regsync-sp-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const prefix = "sp4";
  const settings = { subjectPrefix: prefix, ...FREEZE, memory: false, dataDir: join(dir, "n") };
  let node = await startNode(nats.server.url, "sp4", settings);
  t.after(() => stopAll([node]));
  const client = new RegistryClient(nats.nc, { prefix });
  await renewed(client, "away", 30, 1_000);
  await node.stop();
  await sleep(1_500);
  node = await startNode(nats.server.url, "sp4", settings);
  let everFrozen = false;
  for (let i = 0; i < 20; i++) {
    everFrozen ||= node.status().selfPreservation;
    await sleep(50);
  }
  assert.equal(everFrozen, false, "history taken for a network failure");
});
