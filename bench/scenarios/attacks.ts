/**
 * What each attack on the sync subjects costs one target node (issue 14): CPU seconds and peak
 * RSS of the target's process, reconciliations and pull resets it was driven to, and what it
 * rejected. Each attack runs against a fresh target process beside an honest node, through a
 * real nats-server, bounded in count and time. Run it on this tree and on an older one to
 * compare (`npm run bench -- attacks`).
 */
import { type ChildProcess, fork } from "node:child_process";
import { crc32, deflateRawSync } from "node:zlib";
import { connect, type NatsConnection } from "nats";
import { parseNodeConfig } from "../../src/config/load.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import type { TargetStats } from "../attacks/target-node.js";
import type { BenchRow, Scenario } from "../scenario.js";

const PREFIX = "attack";
const SYNC = { syncIntervalMs: 300, pullTimeoutMs: 500, logLevel: "silent", httpListen: "" };
const MIB = 1 << 20;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

class Target {
  private constructor(private readonly child: ChildProcess) {}

  static async start(url: string): Promise<Target> {
    const config = { ...SYNC, id: "target", memory: true, nats: [url], subjectPrefix: PREFIX };
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

async function honestNode(url: string): Promise<RegistryNode> {
  const config = parseNodeConfig({
    ...SYNC,
    id: "n1",
    memory: true,
    nats: [url],
    subjectPrefix: PREFIX,
  });
  const node = new RegistryNode({ config, codec: createSyncCodec(config) });
  await node.start();
  return node;
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

/** An envelope (format 1, deflated, unsigned) declaring `declared` bytes. */
function envelope(payload: Uint8Array, declared: number, crc: number): Uint8Array {
  const out = new Uint8Array(12 + payload.length);
  const view = new DataView(out.buffer);
  out.set([0x52, 0x53, 1, 1]);
  view.setUint32(4, declared);
  view.setUint32(8, crc);
  out.set(payload, 12);
  return out;
}

type Attack = (nc: NatsConnection, url: string) => Promise<void>;

const ATTACKS: Record<string, { what: string; run: Attack }> = {
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
    },
  },
  "decompression-bombs": {
    what: "30 envelopes of ~65 KB inflating to 64 MiB of zeros",
    run: async (nc) => {
      const zeros = new Uint8Array(64 * MIB - 64);
      const bomb = envelope(deflateRawSync(zeros, { level: 9 }), zeros.length, crc32(zeros));
      await replay(nc, [bomb], 30, 0);
    },
  },
  "declared-64mib": {
    what: "200 envelopes of 14 bytes declaring 64 MiB",
    run: async (nc) => {
      const tiny = envelope(deflateRawSync(new Uint8Array(0)), 64 * MIB - 64, 0);
      await replay(nc, [tiny], 200, 0);
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
    },
  },
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
      for (const [name, attack] of Object.entries(ATTACKS)) {
        const target = await Target.start(server.url);
        try {
          await sleep(1_000);
          const before = await target.stats();
          await attack.run(nc, server.url);
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
