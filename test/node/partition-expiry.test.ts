import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "nats";
import { RegistryClient } from "../../src/client/mod.js";
import { CHANGE_HEADERS } from "../../src/node/changes.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { startCluster } from "../support/cluster.js";
import { waitFor } from "../support/wait.js";
import { converged, instance, startNode, stopAll } from "./fleet.js";

const decoder = new TextDecoder();

/**
 * Every `expired` notification published anywhere in the fleet, by instance id: a subscriber on
 * each server, so what one side of a split publishes is seen too, each notification counted
 * once by its publisher, feed epoch and number.
 */
async function expiredEverywhere(prefix: string, urls: readonly string[]) {
  const seen = new Set<string>();
  const counts = new Map<string, number>();
  const connections: NatsConnection[] = [];
  for (const url of urls) {
    const nc = await connect({ servers: url });
    connections.push(nc);
    nc.subscribe(`${prefix}.changes.>`, {
      callback: (_err, msg) => {
        const event = JSON.parse(decoder.decode(msg.data)) as { type: string; id: string };
        if (event.type !== "expired") return;
        const h = msg.headers;
        const mark = `${h?.get(CHANGE_HEADERS.node)}/${h?.get(CHANGE_HEADERS.epoch)}/${h?.get(CHANGE_HEADERS.seq)}`;
        if (seen.has(mark)) return;
        seen.add(mark);
        counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
      },
    });
    await nc.flush();
  }
  return {
    counts,
    close: () => Promise.allSettled(connections.map((nc) => nc.close())),
  };
}

/**
 * Starts nodes on a 2-server cluster whose route can be cut (`perSide` nodes on each server),
 * registers short leases through both servers, and waits until every node holds them all.
 */
async function splitFleet(
  t: { after: (fn: () => Promise<unknown>) => void },
  prefix: string,
  perSide: readonly [number, number],
  ids: readonly string[],
) {
  const cluster = await startCluster(2, { proxiedRoutes: true });
  const nodes: RegistryNode[] = [];
  const sides: RegistryNode[][] = [[], []];
  const clients: NatsConnection[] = [];
  const feed = await expiredEverywhere(prefix, cluster.urls);
  // Node teardown before the servers', or it waits for servers that are gone.
  t.after(async () => {
    await stopAll(nodes);
    await feed.close();
    await Promise.allSettled(clients.map((nc) => nc.close()));
    await cluster.stop();
  });
  for (const side of [0, 1] as const) {
    for (let i = 0; i < perSide[side]; i++) {
      const node = await startNode(cluster.urls[side]!, `s${side}n${i}`, {
        subjectPrefix: prefix,
      });
      nodes.push(node);
      sides[side]!.push(node);
    }
  }
  await waitFor(() => nodes.every((n) => n.isReady), { timeoutMs: 10_000 });
  for (const url of cluster.urls) clients.push(await connect({ servers: url }));
  // Owners on both sides: half the leases are written through each server.
  for (const [i, id] of ids.entries()) {
    const client = new RegistryClient(clients[i % 2]!, { prefix });
    await client.register(instance("short", id, { ttlMs: 3_000 }), { keepAlive: false });
  }
  await waitFor(
    () =>
      converged(nodes) &&
      nodes.every((n) => n.store.lookup({ service: "short" }, Date.now()).length === ids.length),
    { timeoutMs: 5_000, message: "every node holds every lease" },
  );
  return { cluster, nodes, sides, feed };
}

function live(node: RegistryNode): number {
  return node.store.lookup({ service: "short" }, Date.now()).length;
}

test("a lease lapsing on both sides of a split: the majority side reports it, once, fleet-wide", async (t) => {
  const ids = Array.from({ length: 6 }, (_, i) => `p${i}`);
  const { cluster, nodes, sides, feed } = await splitFleet(t, "pex1", [2, 1], ids);
  cluster.partition([1]);
  // Every lease lapses while the split lasts; the majority side reports them.
  await waitFor(() => ids.every((id) => (feed.counts.get(id) ?? 0) >= 1), {
    timeoutMs: 10_000,
    message: "the majority side reports every lapse during the split",
  });
  // The minority side sees the leases gone from lookups, and reports nothing.
  assert.equal(live(sides[1]![0]!), 0);
  for (const node of sides[0]!) assert.equal(live(node), 0);
  assert.ok(
    sides[1]!.every((n) => n.store.get("short", "p0")?.body !== null),
    "no tombstone written by the minority",
  );
  cluster.heal();
  await waitFor(() => converged(nodes), { timeoutMs: 10_000, message: "converged after the heal" });
  await sleep(1_500);
  assert.deepEqual(
    ids.map((id) => feed.counts.get(id) ?? 0),
    ids.map(() => 1),
  );
  for (const node of nodes)
    assert.equal(node.expiryBacklog.unreported, 0, `${node.id} owes nothing`);
});

test("an even split reports nothing until the heal, then each lapse exactly once", async (t) => {
  const ids = Array.from({ length: 6 }, (_, i) => `q${i}`);
  const { cluster, nodes, feed } = await splitFleet(t, "pex2", [2, 2], ids);
  cluster.partition([1]);
  // Long enough for every lease to lapse and every sweep to have tried.
  await sleep(4_500);
  for (const node of nodes) assert.equal(live(node), 0, `${node.id} shows no lapsed lease`);
  assert.equal(
    [...feed.counts.values()].reduce((a, b) => a + b, 0),
    0,
    "no side holds a majority",
  );
  cluster.heal();
  await waitFor(() => ids.every((id) => (feed.counts.get(id) ?? 0) >= 1), {
    timeoutMs: 15_000,
    message: "every lapse reported after the heal",
  });
  await waitFor(() => converged(nodes), { timeoutMs: 10_000, message: "converged after the heal" });
  await sleep(1_500);
  assert.deepEqual(
    ids.map((id) => feed.counts.get(id) ?? 0),
    ids.map(() => 1),
  );
});
