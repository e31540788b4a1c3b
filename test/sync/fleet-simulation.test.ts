import assert from "node:assert/strict";
import { test } from "node:test";
import { pack } from "msgpackr";
import type { Instance } from "../../src/core/mod.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { seededRandom } from "../../src/sync/seeded-random.js";
import type { SyncSettings } from "../../src/sync/sync-engine.js";
import { CountingMetrics, SimFleet, type SimNode, stateOf } from "../support/sim-fleet.js";

/**
 * A deterministic fleet simulation: 3-7 sync engines on the in-memory network, under random
 * writes, deletes, lease renewals and expiries, restarts (durable and memory), partitions,
 * slow and dead peers, lossy links and a misbehaving responder. Every schedule ends with the
 * faults healed and must converge to equal digests and equal states. A failing schedule
 * prints its seed; replay it with REGSYNC_SIM_SEED=<seed>. REGSYNC_SIM_SCHEDULES scales the
 * run; REGSYNC_SIM_BUDGET_S bounds its wall time, so a loaded CI machine runs fewer schedules
 * rather than timing out (the count run is printed). The default budget, 110 s, lets a
 * quiet 2-core machine run all 2,000 (about 50 ms each) inside the test-file timeout.
 */
const SCHEDULES = Number(process.env.REGSYNC_SIM_SCHEDULES ?? 2_000);
const BUDGET_MS = Number(process.env.REGSYNC_SIM_BUDGET_S ?? 110) * 1000;
const ONLY_SEED = process.env.REGSYNC_SIM_SEED;
const FIRST_SEED = Number(process.env.REGSYNC_SIM_FIRST_SEED ?? 1);

/** Virtual time the faults run for, then the time the healed fleet has to converge. */
const CHAOS_MS = 1_500;
const HEAL_LIMIT_MS = 120_000;

const SERVICES = ["api", "db", "cache"];
/** Non-ASCII text encodes to more bytes than the batch-size estimate counts. */
const WIDE = "服务注册表-";

function settings(random: () => number): SyncSettings {
  const pick = <T>(options: readonly T[]): T => options[Math.floor(random() * options.length)]!;
  return {
    subjectPrefix: "registry",
    syncIntervalMs: 200,
    announceDelayMs: pick([0, 5]),
    inlineChangesMaxBytes: pick([0, 600, 2_048]),
    pullTimeoutMs: 150,
    retryBaseMs: 10,
    retryMaxMs: 200,
    suspectAfterFailures: 3,
    suspectProbeMs: 400,
    batchMaxEntries: pick([2, 5, 50]),
    batchMaxBytes: 1 << 20,
    compression: "none",
    maxPeers: 64,
    forgetPeerAfterMs: 60_000,
  };
}

/** `repeats` copies of WIDE, spread over tags of 40 copies (240 characters) each. */
function wideTags(repeats: number): Record<string, string> {
  const tags: Record<string, string> = {};
  for (let i = 0; repeats > 0; i++, repeats -= 40)
    tags[`note${i}`] = WIDE.repeat(Math.min(40, repeats));
  return tags;
}

function instance(random: () => number, key: number, ttlMs: number, wideShare: number): Instance {
  const wide = random() < wideShare;
  return {
    service: SERVICES[key % SERVICES.length]!,
    id: `i-${key}`,
    host: "10.0.0.1",
    port: 8000 + key,
    status: random() < 0.8 ? "running" : "starting",
    version: `1.${Math.floor(random() * 5)}`,
    // Wide text within the instance schema's bounds (tag values of at most 256 characters),
    // which peers enforce on replicated entries as on registrations.
    tags: wide ? wideTags(100 + Math.floor(random() * 60)) : { zone: "a" },
    weight: 100,
    ttlMs,
  };
}

/** Misbehaviour no honest node shows: replies in another node's name, refusals, garbage. */
function meddle(fleet: SimFleet, victim: SimNode): void {
  const random = fleet.random;
  const rogue = fleet.network.connect(`rogue-${victim.id}`);
  const kind = Math.floor(random() * 4);
  const sub = rogue.subscribe(`registry.sync.${victim.id}.pull`, (msg) => {
    if (kind === 0) {
      // A batch signed by the wrong node: the puller must refuse it.
      msg.respond(
        pack({
          type: "batch",
          v: PROTOCOL_VERSION,
          node: "impostor",
          epoch: "x",
          since: 0,
          cursor: 1,
          head: 1,
          complete: true,
          entries: [],
        }),
      );
    } else if (kind === 1) {
      msg.respond(pack({ type: "error", v: PROTOCOL_VERSION, node: victim.id, message: "busy" }));
    } else if (kind === 3) {
      // In the victim's name, but with an entry that fails validation: the whole batch is refused.
      msg.respond(
        pack({
          type: "batch",
          v: PROTOCOL_VERSION,
          node: victim.id,
          epoch: victim.store.epoch,
          since: 0,
          cursor: 1,
          head: 1,
          complete: true,
          entries: [["not", "an", "entry"]],
        }),
      );
    }
  });
  if (kind === 2) {
    rogue.publish("registry.sync.announce", pack({ type: "announce", node: "bad" }));
    rogue.publish(`registry.sync.${victim.id}.pull`, pack({ type: "pull" }));
    void rogue
      .request(`registry.sync.${victim.id}.pull`, pack({ type: "pull" }), { timeoutMs: 50 })
      .catch(() => {});
    void rogue
      .request(`registry.sync.${victim.id}.reconcile`, pack({ type: "fetch" }), { timeoutMs: 50 })
      .catch(() => {});
    void rogue
      .request(`registry.sync.${victim.id}.pull`, new Uint8Array([0xc1]), { timeoutMs: 50 })
      .catch(() => {});
  }
  fleet.timers.setTimeout(
    () => {
      sub.unsubscribe();
      rogue.close();
    },
    300 + Math.floor(random() * 600),
  );
}

async function runSchedule(seed: number, metrics: CountingMetrics): Promise<void> {
  const fleet = new SimFleet({
    seed,
    metrics,
    settings: settings(seededRandom(seed ^ 0x5eed)),
    maxPayload: 16 * 1024,
    dropRate: 0,
    duplicateRate: 0,
    maxDelayMs: 20,
    tombstoneTtlMs: 3_600_000,
  });
  const random = fleet.random;
  const lossy = random() < 0.5;
  fleet.network.dropRate = lossy ? 0.05 : 0;
  fleet.network.duplicateRate = lossy ? 0.05 : 0;
  const size = 3 + Math.floor(random() * 5);
  const ids = Array.from({ length: size }, (_, i) => `n${i}`);
  for (const id of ids) fleet.start(id, random() < 0.6);
  await fleet.timers.runFor(100);

  const keys = 10 + Math.floor(random() * 30);
  // Some fleets hold mostly wide entries: their batches outgrow the byte estimate and halve.
  const wideShare = random() < 0.3 ? 0.9 : 0.1;
  for (let t = 0; t < CHAOS_MS; t += 20) {
    const roll = random();
    const live = fleet.running();
    const node = live[Math.floor(random() * live.length)];
    if (node !== undefined) {
      const key = Math.floor(random() * keys);
      if (roll < 0.35)
        fleet.register(node, instance(random, key, random() < 0.3 ? 1_000 : 60_000, wideShare));
      else if (roll < 0.45) fleet.deregister(node, SERVICES[key % 3]!, `i-${key}`);
      else if (roll < 0.55) fleet.heartbeat(node, SERVICES[key % 3]!, `i-${key}`);
      else if (roll < 0.6) node.store.sweep(fleet.timers.now());
      else if (roll < 0.62 && live.length > 2) {
        const graceful = random() < 0.5;
        const durable = random() < 0.5;
        fleet.stop(node.id, graceful);
        fleet.timers.setTimeout(
          () => fleet.start(node.id, durable),
          50 + Math.floor(random() * 400),
        );
      } else if (roll < 0.63) {
        const cut = ids.filter(() => random() < 0.5);
        fleet.network.partition([cut, ids.filter((id) => !cut.includes(id))]);
      } else if (roll < 0.65) fleet.network.heal();
      else if (roll < 0.66) node.transport.extraDelayMs = 100 + Math.floor(random() * 200);
      else if (roll < 0.67 && live.length > 2) {
        // A dead peer: it neither sends nor receives, yet holds its subscriptions.
        node.transport.alive = false;
        fleet.timers.setTimeout(
          () => (node.transport.alive = true),
          300 + Math.floor(random() * 1_500),
        );
      } else if (roll < 0.675) meddle(fleet, node);
    }
    await fleet.timers.runFor(20);
  }

  // Heal everything; every node runs, every link is clean and fast.
  fleet.network.heal();
  fleet.network.dropRate = 0;
  fleet.network.duplicateRate = 0;
  await fleet.timers.runFor(500);
  for (const id of ids) {
    const node = fleet.nodes.get(id);
    if (node === undefined || !node.running) fleet.start(id, random() < 0.5);
    const current = fleet.nodes.get(id)!;
    current.transport.alive = true;
    current.transport.extraDelayMs = 0;
  }
  const done = await fleet.timers.runUntil(() => fleet.converged(), HEAL_LIMIT_MS, 200);
  assert.ok(done, `not converged after ${HEAL_LIMIT_MS} ms:\n${fleet.describe()}`);
  const [first, ...rest] = fleet.running();
  for (const node of rest) {
    assert.deepEqual(stateOf(node.store), stateOf(first!.store), `${node.id} vs ${first!.id}`);
  }
  await fleet.stopAll();
}

test(`fleet simulation: ${ONLY_SEED ?? SCHEDULES} seeded schedules converge`, async (t) => {
  const metrics = new CountingMetrics();
  const seeds =
    ONLY_SEED !== undefined
      ? [Number(ONLY_SEED)]
      : Array.from({ length: SCHEDULES }, (_, i) => FIRST_SEED + i);
  const started = Date.now();
  let ran = 0;
  for (const seed of seeds) {
    if (ran > 0 && Date.now() - started > BUDGET_MS) break;
    try {
      await runSchedule(seed, metrics);
    } catch (error) {
      console.error(
        `fleet simulation failed for seed ${seed}: replay with REGSYNC_SIM_SEED=${seed}`,
      );
      throw error;
    }
    ran++;
  }
  t.diagnostic(
    `${ran} schedules, seeds ${seeds[0]}..${seeds[0]! + ran - 1}, ${Date.now() - started} ms`,
  );
  if (process.env.REGSYNC_SIM_VERBOSE) console.log(Object.fromEntries(metrics.counts));
});
