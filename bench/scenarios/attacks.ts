/**
 * What each attack on the sync subjects costs one target node (issue 14): CPU seconds and peak
 * RSS of the target's process, reconciliations and pull resets it was driven to, what it
 * rejected, and the bytes it answered to the attacker. Each attack runs against a fresh target
 * process beside an honest node, through a real nats-server, bounded in count and time. The
 * request replays run in a signed fleet (`nodeSeed` + `trustedPeers`), where freshness means
 * something. Run it on this tree and on an older one to compare (`npm run bench -- attacks`).
 */

import { type ChildProcess, fork } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { crc32, deflateRawSync } from "node:zlib";
import { connect, type NatsConnection } from "nats";
import { createServer } from "nkeys.js";
import { parseNodeConfig } from "../../src/config/load.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import { packHlc } from "../../src/core/mod.js";
import { keyHashOf, packKeyHashes, ReconcileSession } from "../../src/core/reconcile/mod.js";
import { RegistryStore } from "../../src/core/store.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { toTuple } from "../../src/sync/entry-codec.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { newNonce, PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { NodeIdentity } from "../../src/wire/identity.js";
import { deflatedEnvelope } from "../attacks/envelopes.js";
import type { TargetStats } from "../attacks/target-node.js";
import { startInProcessNode } from "../fleet/in-process-node.js";
import type { BenchRow, Scenario } from "../scenario.js";

const PREFIX = "attack";
const SYNC: Partial<NodeConfigInput> = {
  syncIntervalMs: 300,
  pullTimeoutMs: 500,
  logLevel: "silent",
  httpListen: "",
};
const MIB = 1 << 20;

class Target {
  private constructor(private readonly child: ChildProcess) {}

  static async start(url: string, overrides: object = {}): Promise<Target> {
    const config = {
      ...SYNC,
      id: "target",
      memory: true,
      nats: [url],
      subjectPrefix: PREFIX,
      ...overrides,
    };
    const child = fork(
      new URL("../attacks/target-node.js", import.meta.url),
      [JSON.stringify(config)],
      {
        execArgv: ["--max-semi-space-size=128"],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.once("message", () => resolve());
      child.once("exit", (code) => reject(new Error(`target exited with ${code}`)));
    });
    return new Target(child);
  }

  stats(): Promise<TargetStats> {
    return new Promise((resolve) => {
      this.child.once("message", (m: { stats: TargetStats }) => resolve(m.stats));
      this.child.send({ type: "stats" });
    });
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.send({ type: "stop" });
    await Promise.race([exited, sleep(5_000)]);
    this.child.kill("SIGKILL");
  }
}

function honestNode(url: string, overrides: Partial<NodeConfigInput> = {}): Promise<RegistryNode> {
  return startInProcessNode(url, "n1", { ...SYNC, subjectPrefix: PREFIX, ...overrides });
}

/** Publishes `messages` every `everyMs`, `rounds` times. */
async function replay(nc: NatsConnection, messages: Uint8Array[], rounds: number, everyMs: number) {
  for (let r = 0; r < rounds; r++) {
    for (const m of messages) nc.publish(`${PREFIX}.sync.announce`, m);
    await nc.flush();
    await sleep(everyMs);
  }
}

/** n1's announcements over `ms`. */
async function capture(nc: NatsConnection, ms: number): Promise<Uint8Array[]> {
  const codec = createSyncCodec(parseNodeConfig({ id: "tap", memory: true, httpListen: "" }));
  const out: Uint8Array[] = [];
  const sub = nc.subscribe(`${PREFIX}.sync.announce`, {
    callback: (_e, msg) => {
      const m = codec.decode(msg.data).message as { node: string };
      if (m.node === "n1") out.push(Uint8Array.from(msg.data));
    },
  });
  await sleep(ms);
  sub.unsubscribe();
  return out;
}

async function register(nc: NatsConnection, count: number): Promise<void> {
  const json = new TextEncoder();
  for (let i = 0; i < count; i++)
    await nc.request(
      `${PREFIX}.register`,
      json.encode(JSON.stringify({ service: "api", id: `a${i}`, host: "10.0.0.1", port: 80 })),
      { timeout: 5_000 },
    );
}

/** The keys of the target and of n1 in a signed fleet: each node's settings. */
interface SignedFleet {
  target: object;
  n1: object;
}

function signedFleet(): SignedFleet {
  const seed = () => new TextDecoder().decode(createServer().getSeed());
  const seeds = { target: seed(), n1: seed() };
  const trustedPeers = {
    target: NodeIdentity.fromSeed(seeds.target).publicKey,
    n1: NodeIdentity.fromSeed(seeds.n1).publicKey,
  };
  return {
    target: { nodeSeed: seeds.target, trustedPeers },
    n1: { nodeSeed: seeds.n1, trustedPeers },
  };
}

/** Sends each request `perRound` times a round, `rounds` rounds `everyMs` apart, each with a
 * reply inbox; resolves with the replies and bytes the target answered. */
async function replayRequests(
  nc: NatsConnection,
  requests: readonly [subject: string, bytes: Uint8Array][],
  rounds: number,
  perRound: number,
  everyMs: number,
): Promise<{ replies: number; bytes: number }> {
  const answered = { replies: 0, bytes: 0 };
  const inbox = `_INBOX.attacker.${newNonce()}`;
  const sub = nc.subscribe(inbox, {
    callback: (_e, msg) => {
      answered.replies++;
      answered.bytes += msg.data.length;
    },
  });
  for (let r = 0; r < rounds; r++) {
    for (const [subject, bytes] of requests)
      for (let i = 0; i < perRound; i++) nc.publish(subject, bytes, { reply: inbox });
    await nc.flush();
    await sleep(everyMs);
  }
  await sleep(2_000);
  sub.unsubscribe();
  return answered;
}

/** The target with 2,000 entries of its own, then n1 started beside it (it bootstraps from
 * the target), its requests to the target captured on the way. */
async function bootstrappedPair(
  nc: NatsConnection,
  url: string,
  fleet: SignedFleet,
): Promise<{ n1: RegistryNode; pulls: Uint8Array[]; heads: Uint8Array[] }> {
  await register(nc, 2_000);
  const pulls: Uint8Array[] = [];
  const heads: Uint8Array[] = [];
  const taps = [
    nc.subscribe(`${PREFIX}.sync.target.pull`, {
      callback: (_e, msg) => pulls.push(Uint8Array.from(msg.data)),
    }),
    nc.subscribe(`${PREFIX}.sync.heads`, {
      callback: (_e, msg) => heads.push(Uint8Array.from(msg.data)),
    }),
  ];
  const n1 = await honestNode(url, fleet.n1);
  for (let i = 0; i < 100 && n1.store.size < 2_000; i++) await sleep(100);
  for (const tap of taps) tap.unsubscribe();
  if (n1.store.size < 2_000) throw new Error(`n1 holds ${n1.store.size} of 2,000 entries`);
  return { n1, pulls, heads };
}

/** The three reconciliation requests as n1 sends them, signed with its key (what a capture of
 * n1's traffic holds): a range query from an empty replica, a fetch of every key, a push of
 * every entry. */
function reconcileRequests(n1: RegistryNode, fleet: SignedFleet): Uint8Array[] {
  const codec = createSyncCodec(
    parseNodeConfig({ id: "n1", memory: true, httpListen: "", ...fleet.n1 }),
  );
  const empty = new RegistryStore({
    nodeId: "n1",
    epoch: "e",
    wallClock: () => Date.now(),
    maxClockSkewMs: 30_000,
    tombstoneTtlMs: 90_000_000,
  });
  const session = new ReconcileSession(empty.reconIndex, {
    salt: 7,
    maxMessageBytes: 1 << 20,
    retainKeys: false,
  });
  const entries = n1.store.changesSince(0, { maxEntries: 5_000, maxBytes: 64 << 20 }).records;
  const keys = packKeyHashes(entries.map((e) => keyHashOf(e.service, e.id)));
  const request = (body: object) =>
    codec.encode(
      {
        v: PROTOCOL_VERSION,
        node: "n1",
        nonce: newNonce(),
        at: packHlc(Date.now(), 0),
        ...body,
      },
      true,
    ).bytes;
  return [
    request({ type: "recon", query: session.start() }),
    request({ type: "fetch", keys }),
    request({ type: "push", entries: entries.map(toTuple) }),
  ];
}

/** What an attack reports beyond the target's own counters. */
interface AttackOutcome {
  replies: number;
  bytes: number;
}

/** `measureFromHere`: the target's costs count from this call on (set-up excluded); by
 * default from the attack's start. */
type Attack = (
  nc: NatsConnection,
  url: string,
  fleet: SignedFleet,
  measureFromHere: () => Promise<void>,
) => Promise<AttackOutcome | undefined>;

interface AttackSpec {
  what: string;
  signed?: boolean;
  run: Attack;
}

type Pair = Awaited<ReturnType<typeof bootstrappedPair>>;

/** A replay in the signed pair, measured from its first message: `pick` chooses what of n1's
 * traffic to replay, `perRound` times every 300 ms for 10 s. */
function signedReplay(
  what: string,
  perRound: number,
  pick: (pair: Pair, fleet: SignedFleet, nc: NatsConnection) => Promise<[string, Uint8Array][]>,
): AttackSpec {
  return {
    what,
    signed: true,
    run: async (nc, url, fleet, measureFromHere) => {
      const pair = await bootstrappedPair(nc, url, fleet);
      try {
        const requests = await pick(pair, fleet, nc);
        await measureFromHere();
        return await replayRequests(nc, requests, 33, perRound, 300);
      } finally {
        await pair.n1.stop();
      }
    },
  };
}

const ATTACKS: Record<string, AttackSpec> = {
  "announce-replay": {
    what: "n1's early periodic announcements (0 entries) replayed every 300 ms for 10 s",
    run: async (nc, url) => {
      const n1 = await honestNode(url);
      try {
        const early = await capture(nc, 1_000);
        await register(nc, 200);
        await sleep(1_500);
        await replay(nc, early, 33, 300);
      } finally {
        await n1.stop();
      }
      return undefined;
    },
  },
  "old-epoch-replay": {
    what: "announcements of n1's previous life (old epoch, and its leaving) replayed every 300 ms for 10 s",
    run: async (nc, url) => {
      let n1 = await honestNode(url);
      const firstLife = capture(nc, 1_500);
      await sleep(1_000);
      await n1.stop();
      const old = await firstLife;
      n1 = await honestNode(url);
      try {
        await register(nc, 200);
        await sleep(1_500);
        await replay(nc, old, 33, 300);
      } finally {
        await n1.stop();
      }
      return undefined;
    },
  },
  "decompression-bombs": {
    what: "30 envelopes of ~65 KB inflating to 64 MiB of zeros",
    run: async (nc) => {
      const zeros = new Uint8Array(64 * MIB - 64);
      const bomb = deflatedEnvelope(
        deflateRawSync(zeros, { level: 9 }),
        zeros.length,
        crc32(zeros),
      );
      await replay(nc, [bomb], 30, 0);
      return undefined;
    },
  },
  "declared-64mib": {
    what: "200 envelopes of 14 bytes declaring 64 MiB",
    run: async (nc) => {
      const tiny = deflatedEnvelope(deflateRawSync(new Uint8Array(0)), 64 * MIB - 64, 0);
      await replay(nc, [tiny], 200, 0);
      return undefined;
    },
  },
  "fake-peers": {
    what: "8,000 announcements from distinct fake node ids",
    run: async (nc) => {
      const codec = createSyncCodec(parseNodeConfig({ id: "fake", memory: true, httpListen: "" }));
      const messages: Uint8Array[] = [];
      for (let i = 0; i < 8_000; i++)
        messages.push(
          codec.encode(
            {
              type: "announce",
              v: PROTOCOL_VERSION,
              node: `fake${i}`,
              epoch: `e${i}`,
              seq: 0,
              digest: "0".repeat(32),
              count: 0,
              accepts: [],
              at: 1,
            },
            false,
          ).bytes,
        );
      for (let i = 0; i < messages.length; i += 500)
        await replay(nc, messages.slice(i, i + 500), 1, 50);
      return undefined;
    },
  },
  "signed-idle": signedReplay(
    "no attack: the signed pair of the replays below, idle for as long as a replay runs (the yardstick)",
    0,
    async () => [],
  ),
  "pull-replay": signedReplay(
    "n1's first bootstrap pull (since 0, 2,000 entries) replayed 5 times every 300 ms for 10 s, signed fleet",
    5,
    async ({ pulls }) => [[`${PREFIX}.sync.target.pull`, pulls[0]!]],
  ),
  "reconcile-replay": signedReplay(
    "n1's recon query, fetch of 2,000 keys and push of 2,000 entries, each replayed 5 times every 300 ms for 10 s, signed fleet",
    5,
    async ({ n1 }, fleet, nc) => {
      const requests = reconcileRequests(n1, fleet);
      // Each is sent once and answered, as n1 would have: the replays follow.
      for (const bytes of requests)
        await nc.request(`${PREFIX}.sync.target.reconcile`, bytes, { timeout: 5_000 });
      return requests.map((bytes) => [`${PREFIX}.sync.target.reconcile`, bytes]);
    },
  ),
  "heads-replay": signedReplay(
    "n1's heads question at its start replayed 20 times every 300 ms for 10 s, signed fleet",
    20,
    async ({ heads }) => [[`${PREFIX}.sync.heads`, heads[0]!]],
  ),
};

const scenario: Scenario = {
  name: "attacks",
  description:
    "cost to one target node of each attack on the sync subjects: CPU, peak RSS, reconciliations (fresh process per attack)",
  async run({ log }) {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    const rows: BenchRow[] = [];
    try {
      const only = process.env.REGSYNC_BENCH_ATTACKS?.split(",");
      for (const [name, attack] of Object.entries(ATTACKS)) {
        if (only !== undefined && !only.includes(name)) continue;
        const fleet = signedFleet();
        const target = await Target.start(server.url, attack.signed ? fleet.target : {});
        try {
          await sleep(1_000);
          let before = await target.stats();
          const outcome = await attack.run(nc, server.url, fleet, async () => {
            before = await target.stats();
          });
          await sleep(3_000);
          const after = await target.stats();
          const rejected = Object.entries(after.rejected)
            .map(([k, v]) => [k, v - (before.rejected[k] ?? 0)] as const)
            .filter(([, v]) => v > 0)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ");
          log(`${name}: ${attack.what}; rejected: ${rejected || "none"}; peers ${after.peers}`);
          rows.push(
            {
              metric: `${name}: CPU`,
              value: after.cpuSeconds - before.cpuSeconds,
              unit: "s",
              note: attack.what,
            },
            {
              metric: `${name}: peak RSS`,
              value: after.maxRssMb,
              unit: "MB",
              note: `idle ${Math.round(before.maxRssMb)} MB`,
            },
            {
              metric: `${name}: reconciliations + resets`,
              value:
                after.reconciliations -
                before.reconciliations +
                after.pullResets -
                before.pullResets,
              unit: "count",
              note: `rejected: ${rejected || "none"}; peers tracked ${after.peers}`,
            },
          );
          if (outcome !== undefined)
            rows.push({
              metric: `${name}: bytes answered`,
              value: outcome.bytes,
              unit: "bytes",
              note: `${outcome.replies} replies to the attacker`,
            });
        } finally {
          await target.stop();
        }
      }
    } finally {
      await nc.close();
      await server.stop();
    }
    return rows;
  },
};

export default scenario;
