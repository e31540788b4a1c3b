/**
 * What applying a peer's writes costs a node, apart from everything else (issue 16): one
 * `regsync node` process, memory or LMDB, fed inline announcements by a synthetic peer at a
 * steady rate, nothing else writing. Reports the node's CPU (every thread, from /proc) per
 * applied entry, and its main thread's share, for announcements of 1, 10 and 50 new
 * registrations, and of 10 and 50 heartbeats of instances the node already holds (a registry
 * at rest). Then the same steps in one process, step by step, with and without the one-pass
 * message check and the reuse of stored bodies.
 *
 * `REGSYNC_BENCH_BASELINE_CLI=<other checkout>/dist/src/cli/main.js` runs that build's node too,
 * alternated with this one's, for the node rows.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { syncSubjects } from "../../src/contract/subjects.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { acceptedAnnounce } from "../../src/sync/announce-fast-path.js";
import { meteredCodec } from "../../src/sync/codec.js";
import { fromTuples, heldIn, toTuple } from "../../src/sync/entry-codec.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { headOf } from "../../src/sync/heads.js";
import { AnnounceSchema, parseMessage } from "../../src/sync/messages.js";
import { answerPull, maxBatchBytes } from "../../src/sync/pull-server.js";
import { NO_SYNC_METRICS } from "../../src/sync/sync-metrics.js";
import { testStore } from "../../test/support/store.js";
import { syntheticInstance } from "../fleet/synthetic.js";
import {
  type BenchContext,
  type BenchRow,
  comparedBuilds,
  inTurn,
  median,
  type Scenario,
} from "../scenario.js";
import { counterSum, startNodeProcess } from "../writes/node-process.js";
import { mainThreadCpuMicros, processCpuMicros } from "../writes/process-cpu.js";

/** Entries offered per second, whatever the batch: the node's load stays the same. */
const ENTRIES_PER_SECOND = 8_000;
const PEER = "peer1";

type Kind = "registrations" | "heartbeats";
const RUNS: readonly { kind: Kind; batch: number }[] = [
  { kind: "registrations", batch: 1 },
  { kind: "registrations", batch: 10 },
  { kind: "registrations", batch: 50 },
  { kind: "heartbeats", batch: 10 },
  { kind: "heartbeats", batch: 50 },
];

interface Measured {
  micros: number;
  mainMicros: number;
  /** Entries the node applied from announcements, and by pulling (after falling behind). */
  inline: number;
  pulled: number;
  offered: number;
}

/** A synthetic peer: it registers new instances or renews those it registered, encodes each
 * batch as the inline announcement a real node would send, and answers pulls as a real node
 * does, so a node that falls behind its announcements catches up as it would in a fleet. */
function syntheticPeer(batch: number) {
  const store = testStore(PEER, Date.now, "peer-epoch");
  const codec = createSyncCodec({
    compressionThreshold: 8_192,
    maxDecompressedBytes: 64 << 20,
    id: PEER,
    trustedPeers: [],
  });
  let from = 0;
  let written = 0;
  const registered: { service: string; id: string }[] = [];
  return {
    codec,
    store,
    get written() {
      return written;
    },
    announcement(what: Kind): Uint8Array {
      for (let k = 0; k < batch; k++) {
        if (what === "registrations") {
          const instance = syntheticInstance(registered.length);
          store.register(instance);
          registered.push(instance);
        } else {
          const { service, id } = registered[written % registered.length]!;
          store.heartbeat(service, id);
        }
        written++;
      }
      const page = store.changesSince(from, {
        onlyNode: PEER,
        maxEntries: batch,
        maxBytes: 1 << 20,
      });
      const message = headOf(store, []);
      message.from = from;
      message.entries = page.records.map(toTuple);
      from = store.seq;
      return codec.encode(message, false).bytes;
    },
  };
}

async function measure(
  kind: Kind,
  batch: number,
  durable: boolean,
  entries: number,
  cli: string | undefined,
): Promise<Measured> {
  const server = await startNatsServer();
  const dir = mkdtempSync(join(tmpdir(), "regsync-bench-peer-"));
  const node = await startNodeProcess({
    id: "n1",
    natsUrl: server.url,
    dataDir: durable ? join(dir, "n1") : undefined,
    cli,
  });
  const nc = await connect({ servers: server.url });
  try {
    const peer = syntheticPeer(batch);
    const subjects = syncSubjects("registry");
    const subject = subjects.announce;
    const maxPayload = nc.info?.max_payload ?? 1 << 20;
    const uncounted = meteredCodec(peer.codec, NO_SYNC_METRICS, "deflate");
    nc.subscribe(subjects.pull(PEER), {
      callback: (error, msg) => {
        if (error) return;
        const answer = answerPull(msg.data, peer.store, uncounted, {
          batchMaxEntries: 5_000,
          maxBatchBytes: maxBatchBytes(4 << 20, maxPayload, "deflate"),
          maxPayload,
        });
        if (answer.bytes !== undefined) msg.respond(answer.bytes);
      },
    });
    const offer = async (what: Kind, count: number) => {
      const intervalMs = (1_000 * batch) / ENTRIES_PER_SECOND;
      let due = performance.now();
      for (let sent = 0; sent < count; sent += batch) {
        nc.publish(subject, peer.announcement(what));
        due += intervalMs;
        const wait = due - performance.now();
        if (wait >= 1) await sleep(wait);
      }
    };
    // Warm-up (JIT, first pages); heartbeats need every instance they renew registered first.
    await offer("registrations", kind === "heartbeats" ? entries : Math.max(batch, entries / 10));
    await sleep(500);
    const before = processCpuMicros(node.pid);
    const mainBefore = mainThreadCpuMicros(node.pid);
    const offeredFrom = peer.written;
    await offer(kind, entries);
    await sleep(1_000); // the last commits
    const micros = processCpuMicros(node.pid) - before;
    const mainMicros = mainThreadCpuMicros(node.pid) - mainBefore;
    const offered = peer.written - offeredFrom;
    const metrics = [await node.metrics()];
    const applied = (path: string) =>
      counterSum(metrics, `regsync_entries_applied_total{path="${path}"}`);
    return {
      micros: micros / offered,
      mainMicros: mainMicros / offered,
      inline: applied("inline"),
      pulled: applied("pull"),
      offered: peer.written,
    };
  } finally {
    await nc.close();
    await node.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** µs per entry of each step a node takes on a peer's announcements, in one process. */
interface Steps {
  decode: number;
  schema: number;
  onePass: number;
  fullChecks: number;
  reusedChecks: number;
  merge: number;
}

/**
 * The same steps without NATS, processes or disk: decode the envelope, check the message (by
 * the schema alone, and by the one-pass check first), check the entries (in full, and reusing
 * the bodies the replica holds), merge. Heartbeats are measured on a replica that holds every
 * instance they renew.
 */
function inProcess(kind: Kind, batch: number, entries: number): Steps {
  const peer = syntheticPeer(batch);
  const replica = testStore("n1", Date.now, "n1-epoch");
  const held = heldIn(replica);
  const decode = (bytes: Uint8Array) => peer.codec.decode(bytes).message;
  if (kind === "heartbeats") {
    for (let i = 0; i < entries; i += batch) {
      const announce = parseMessage(AnnounceSchema, decode(peer.announcement("registrations")));
      replica.merge(fromTuples(announce.entries));
    }
  }
  const messages = Array.from({ length: Math.ceil(entries / batch) }, () =>
    peer.announcement(kind),
  );
  const steps: Steps = {
    decode: 0,
    schema: 0,
    onePass: 0,
    fullChecks: 0,
    reusedChecks: 0,
    merge: 0,
  };
  const timed = <T>(step: keyof Steps, work: () => T): T => {
    const started = performance.now();
    const result = work();
    steps[step] += performance.now() - started;
    return result;
  };
  messages.forEach((bytes, i) => {
    const decoded = timed("decode", () => decode(bytes));
    const announce = bothInTurns(
      i,
      () => timed("schema", () => parseMessage(AnnounceSchema, decoded)),
      () => timed("onePass", () => parseMessage(AnnounceSchema, decoded, acceptedAnnounce)),
    );
    const records = bothInTurns(
      i,
      () => timed("fullChecks", () => fromTuples(announce.entries)),
      () => timed("reusedChecks", () => fromTuples(announce.entries, held)),
    );
    timed("merge", () => replica.merge(records));
  });
  const perEntry = 1_000 / (messages.length * batch);
  for (const step of Object.keys(steps) as (keyof Steps)[]) steps[step] *= perEntry;
  return steps;
}

/** Runs both, `other` first on even turns, so neither always runs second on warm data; returns
 * what `kept` returns. */
function bothInTurns<T>(turn: number, other: () => unknown, kept: () => T): T {
  if (turn % 2 === 0) {
    other();
    return kept();
  }
  const result = kept();
  other();
  return result;
}

const scenario: Scenario = {
  name: "peer-apply",
  description: "a node's CPU per peer entry applied, by writes per announcement",
  async run(context: BenchContext) {
    const entries = context.quick ? 10_000 : 40_000;
    const repetitions = context.quick ? 1 : 3;
    const rows: BenchRow[] = [];
    const builds = comparedBuilds().map(({ baseline, cli }) => ({
      suffix: baseline ? " (baseline)" : "",
      cli,
    }));
    for (const durable of [false, true]) {
      for (const { kind, batch } of RUNS) {
        const label = `${durable ? "durable" : "memory"}, ${batch} ${kind} per announcement`;
        const runs = new Map<string, Measured[]>(builds.map((b) => [b.suffix, []]));
        for (let rep = 0; rep < repetitions; rep++) {
          for (const build of inTurn(builds, rep)) {
            const m = await measure(kind, batch, durable, entries, build.cli);
            context.log(
              `${label}${build.suffix}: ${m.micros.toFixed(1)} CPU-µs per entry (main thread ${m.mainMicros.toFixed(1)}); of ${m.offered}, ${m.inline} applied inline, ${m.pulled} pulled`,
            );
            runs.get(build.suffix)!.push(m);
          }
        }
        for (const { suffix } of builds) {
          const measured = runs.get(suffix)!;
          const sum = (pick: (m: Measured) => number) =>
            measured.reduce((total, m) => total + pick(m), 0);
          const pulled = sum((m) => m.pulled);
          const missing = sum((m) => m.offered - m.inline - m.pulled);
          rows.push({
            metric: `${label}${suffix}: CPU per entry`,
            value: median(measured.map((m) => m.micros)),
            unit: "CPU-µs",
            note: `main thread ${median(measured.map((m) => m.mainMicros)).toFixed(1)}; ${ENTRIES_PER_SECOND} entries/s offered, ${entries} measured × ${repetitions}${pulled > 0 ? `; ${Math.round((100 * pulled) / sum((m) => m.offered))}% pulled (the node fell behind the announcements)` : ""}${missing > 0 ? `; ${missing} never applied` : ""}`,
          });
        }
      }
    }
    for (const kind of ["registrations", "heartbeats"] as const) {
      const batch = 10;
      const runs = Array.from({ length: repetitions }, () => inProcess(kind, batch, entries * 2));
      const med = (step: keyof Steps) => median(runs.map((r) => r[step]));
      const label = `in process, ${batch} ${kind} per announcement`;
      const note = `per entry, ${entries * 2} entries × ${repetitions}`;
      rows.push(
        { metric: `${label}: envelope decode`, value: med("decode"), unit: "µs", note },
        {
          metric: `${label}: message check by the schema`,
          value: med("schema"),
          unit: "µs",
          note: `one pass first: ${med("onePass").toFixed(2)}`,
        },
        {
          metric: `${label}: entry checks in full`,
          value: med("fullChecks"),
          unit: "µs",
          note: `reusing the bodies the replica holds: ${med("reusedChecks").toFixed(2)}`,
        },
        { metric: `${label}: merge`, value: med("merge"), unit: "µs", note },
      );
    }
    return rows;
  },
};

export default scenario;
