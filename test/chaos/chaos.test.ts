/**
 * Faults injected into a running fleet on real nats-servers: a node killed under load, a NATS
 * server killed under load, a partition with conflicting writes, a clock running ahead.
 * REGSYNC_TEST_CHAOS_SCALE (default 1) multiplies load and durations for a long run.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "nats";
import { lww } from "../../src/core/merge.js";
import { type EntryRecord, entryKey, entryRecord } from "../../src/core/mod.js";
import { freePort, startNatsServer } from "../../src/dev/nats-server.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { converged, instance, startNode, stopAll } from "../node/fleet.js";
import { startCluster } from "../support/cluster.js";
import { waitFor } from "../support/wait.js";

const SCALE = Math.max(1, Number(process.env.REGSYNC_TEST_CHAOS_SCALE ?? 1));
const json = new TextEncoder();
const text = new TextDecoder();

/** Registrations at a steady rate with bounded concurrency; returns the ids acknowledged. */
async function writeLoad(
  nc: NatsConnection,
  prefix: string,
  options: { count: number; perSecond: number; idPrefix: string; inFlight?: number },
): Promise<{ acked: string[]; failed: number }> {
  const acked: string[] = [];
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < options.count) {
      const i = next++;
      const due = started + (i * 1000) / options.perSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const id = `${options.idPrefix}${i}`;
      try {
        const reply = await nc.request(
          `${prefix}.register`,
          json.encode(JSON.stringify(instance("load", id))),
          { timeout: 2_000 },
        );
        if ((JSON.parse(text.decode(reply.data)) as { ok: boolean }).ok) acked.push(id);
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.inFlight ?? 16 }, lane));
  return { acked, failed };
}

function missing(node: RegistryNode, ids: readonly string[]): string[] {
  const now = Date.now();
  return ids.filter((id) => {
    const entry = node.store.get("load", id);
    return entry === undefined || !node.store.isLive(entry, now);
  });
}

async function statusOf(httpPort: number): Promise<{ digest: string; count: number } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${httpPort}/status.json`);
    return (await response.json()) as { digest: string; count: number };
  } catch {
    return undefined;
  }
}

describe("chaos", { concurrency: false }, () => {
  test("a durable node SIGKILLed under write load restarts with every write it acknowledged", async () => {
    const server = await startNatsServer();
    const dir = mkdtempSync(join(tmpdir(), "regsync-chaos-"));
    const httpPort = await freePort();
    const prefix = "kill";
    const spawnVictim = () =>
      spawn(
        process.execPath,
        [
          "dist/src/cli/main.js",
          "node",
          "--nats",
          server.url,
          "--id",
          "victim",
          "--data-dir",
          join(dir, "victim"),
          "--subject-prefix",
          prefix,
          "--http-listen",
          `127.0.0.1:${httpPort}`,
          "--log-level",
          "warn",
          "--sync-interval-ms",
          "200",
          "--pull-timeout-ms",
          "300",
        ],
        { stdio: "ignore" },
      );
    let victim: ChildProcess = spawnVictim();
    const survivor = await startNode(server.url, "survivor", {
      subjectPrefix: prefix,
      memory: false,
      dataDir: join(dir, "survivor"),
    });
    const nc = await connect({ servers: server.url });
    try {
      await waitFor(async () => (await statusOf(httpPort)) !== undefined, {
        timeoutMs: 10_000,
        message: "victim up",
      });
      const load = writeLoad(nc, prefix, { count: 1_500 * SCALE, perSecond: 500, idPrefix: "k" });
      await sleep(1_000 * SCALE);
      victim.kill("SIGKILL");
      await sleep(700);
      victim = spawnVictim();
      const { acked, failed } = await load;
      assert.ok(
        acked.length > 1_000 * SCALE,
        `only ${acked.length} writes acknowledged (${failed} failed)`,
      );
      await waitFor(() => missing(survivor, acked).length === 0, {
        timeoutMs: 15_000,
        message: "survivor holds every acked write",
      });
      await waitFor(
        async () => (await statusOf(httpPort))?.digest === survivor.store.digest().digest,
        { timeoutMs: 15_000, message: "the restarted victim converged with the survivor" },
      );
      assert.deepEqual(missing(survivor, acked), [], "acknowledged writes lost");
    } finally {
      victim.kill("SIGKILL");
      await nc.close();
      await stopAll([survivor]);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a NATS server killed and restarted under load: nodes and clients reconnect, nothing acknowledged is lost", async () => {
    const cluster = await startCluster(3);
    const prefix = "srv";
    const nodes = await Promise.all(
      cluster.urls.map((url, i) =>
        startNode(url, `n${i + 1}`, {
          subjectPrefix: prefix,
          nats: [url, ...cluster.urls.filter((u) => u !== url)],
        }),
      ),
    );
    const nc = await connect({ servers: [...cluster.urls] });
    try {
      const load = writeLoad(nc, prefix, { count: 1_500 * SCALE, perSecond: 500, idPrefix: "s" });
      await sleep(1_000 * SCALE);
      await cluster.servers[1]!.kill("SIGKILL");
      await sleep(1_000);
      await cluster.servers[1]!.restart();
      const { acked } = await load;
      assert.ok(acked.length > 1_000 * SCALE, `only ${acked.length} writes acknowledged`);
      await waitFor(() => converged(nodes) && missing(nodes[0]!, acked).length === 0, {
        timeoutMs: 20_000,
        message: "every node holds every acknowledged write",
      });
      for (const node of nodes) assert.deepEqual(missing(node, acked), []);
    } finally {
      await nc.close();
      await stopAll(nodes);
      await cluster.stop();
    }
  });

  test("a partition with conflicting writes and deletions heals to the last-writer-wins state", async () => {
    const cluster = await startCluster(3, { proxiedRoutes: true });
    const prefix = "part";
    const nodes = await Promise.all(
      cluster.urls.map((url, i) => startNode(url, `p${i + 1}`, { subjectPrefix: prefix })),
    );
    const left = await connect({ servers: cluster.urls[0]! });
    const right = await connect({ servers: cluster.urls[2]! });
    const register = (nc: NatsConnection, id: string, port: number) =>
      nc.request(
        `${prefix}.register`,
        json.encode(JSON.stringify(instance("shared", id, { port }))),
        { timeout: 5_000 },
      );
    const deregister = (nc: NatsConnection, id: string) =>
      nc.request(`${prefix}.deregister`, json.encode(JSON.stringify({ service: "shared", id })), {
        timeout: 5_000,
      });
    try {
      for (let i = 0; i < 200; i++) await register(left, `k${i}`, 1);
      await waitFor(() => converged(nodes), {
        timeoutMs: 10_000,
        message: "converged before the partition",
      });
      cluster.partition([0]);
      await sleep(500);
      for (let i = 0; i < 60 * SCALE; i++) {
        const key = `k${i % 200}`;
        if (i % 5 === 0) await deregister(right, key);
        else await register(right, key, 2_000 + i);
        if (i % 7 === 0) await deregister(left, key);
        else await register(left, key, 1_000 + i);
        await register(left, `left-only-${i}`, 3);
        await register(right, `right-only-${i}`, 4);
      }
      const [isolated, ...majority] = nodes as [RegistryNode, ...RegistryNode[]];
      await waitFor(() => converged(majority), {
        timeoutMs: 10_000,
        message: "majority side converged",
      });
      // The model: for every key, the greater (hlc, node) of the two sides' versions.
      const expected = new Map<string, EntryRecord>();
      for (const side of [isolated, majority[0]!]) {
        for (const entry of side.store.entries()) {
          const held = expected.get(entryKey(entry.service, entry.id));
          if (held === undefined || lww(entry, held) > 0)
            expected.set(entryKey(entry.service, entry.id), entryRecord(entry));
        }
      }
      assert.notEqual(
        isolated.store.digest().digest,
        majority[0]!.store.digest().digest,
        "the sides diverged",
      );
      const healedAt = performance.now();
      cluster.heal();
      await waitFor(() => converged(nodes), {
        timeoutMs: 30_000,
        message: "converged after the heal",
      });
      const convergeMs = performance.now() - healedAt;
      for (const node of nodes) {
        for (const [key, want] of expected) {
          const [service, id] = key.split("/") as [string, string];
          const got = node.store.get(service, id);
          assert.ok(got, `${node.id} lost ${key}`);
          assert.equal(got.hlc, want.hlc, `${node.id} ${key}`);
          assert.equal(got.node, want.node, `${node.id} ${key}`);
          assert.equal(got.body === null, want.body === null, `${node.id} ${key}`);
        }
      }
      console.log(`# partition healed: converged ${Math.round(convergeMs)} ms after the heal`);
    } finally {
      await left.close();
      await right.close();
      await stopAll(nodes);
      await cluster.stop();
    }
  });

  test("a node whose clock runs ahead cannot roll the others forward", async () => {
    const server = await startNatsServer();
    const prefix = "skew";
    const honest = await startNode(server.url, "honest", {
      subjectPrefix: prefix,
      maxClockSkewMs: 5_000,
    });
    const fast = await startNode(
      server.url,
      "fast",
      { subjectPrefix: prefix, maxClockSkewMs: 5_000 },
      () => Date.now() + 120_000,
    );
    const nc = await connect({ servers: server.url });
    try {
      for (let i = 0; i < 40; i++) {
        await nc.request(
          `${prefix}.register`,
          json.encode(JSON.stringify(instance("time", `t${i}`))),
          { timeout: 5_000 },
        );
      }
      await waitFor(
        async () => {
          const rejected = await honest.metrics.entriesRejected.get();
          return rejected.values.some((v) => v.labels.reason === "clock_skew" && v.value > 0);
        },
        { timeoutMs: 5_000, message: "skewed entries rejected and counted" },
      );
      const aheadMs = Math.floor(honest.store.clock.peek() / 1024) - Date.now();
      assert.ok(aheadMs < 5_000, `the honest clock was dragged ${aheadMs} ms ahead`);
      for (const entry of honest.store.entries())
        assert.notEqual(entry.node, "fast", "a skewed entry was adopted");
    } finally {
      await nc.close();
      await stopAll([honest, fast]);
      await server.stop();
    }
  });
});
