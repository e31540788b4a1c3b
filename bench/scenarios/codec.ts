import { deflateRawSync, inflateRawSync } from "node:zlib";
import { deflateSync as fflateDeflate, inflateSync as fflateInflate } from "fflate";
import { RegistryStore } from "../../src/core/mod.js";
import { toTuple } from "../../src/sync/entry-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { msgpack } from "../../src/wire/msgpack.js";
import { syntheticInstance } from "../fleet/synthetic.js";
import { type BenchRow, median, type Scenario } from "../scenario.js";

/**
 * The sync envelope's compression, on record: node's zlib (what the envelope uses) against
 * fflate (pure JS, the usual alternative), raw DEFLATE at the envelope's level 1, on the bodies
 * a fleet really sends: pull batches of 5,000 entries (the default batchMaxEntries) and
 * announcements carrying one write inline. Deflate and inflate MB/s (of the raw msgpack body)
 * and the ratio raw / compressed, median of the repetitions, both codecs in the same run.
 */

const LEVEL = 1;

interface Codec {
  name: string;
  deflate(body: Uint8Array): Uint8Array;
  inflate(payload: Uint8Array, size: number): Uint8Array;
}

const CODECS: Codec[] = [
  {
    name: "node:zlib",
    deflate: (body) => deflateRawSync(body, { level: LEVEL }),
    inflate: (payload, size) => inflateRawSync(payload, { maxOutputLength: size, chunkSize: size }),
  },
  {
    name: "fflate",
    deflate: (body) => fflateDeflate(body, { level: LEVEL }),
    inflate: (payload, size) => fflateInflate(payload, { out: new Uint8Array(size) }),
  },
];

function store(entries: number): RegistryStore {
  const s = new RegistryStore({
    nodeId: "bench-node",
    epoch: "bench",
    wallClock: Date.now,
    maxClockSkewMs: 60_000,
    tombstoneTtlMs: 86_400_000,
  });
  for (let i = 0; i < entries; i++) s.register(syntheticInstance(i));
  return s;
}

/** A pull reply as the pull server builds it: `entries` records from the change log. */
function batchBody(source: RegistryStore, since: number, entries: number): Uint8Array {
  const page = source.changesSince(since, { maxEntries: entries, maxBytes: 64 << 20 });
  return msgpack.pack({
    type: "batch",
    v: PROTOCOL_VERSION,
    node: source.nodeId,
    epoch: source.epoch,
    since,
    cursor: page.cursor,
    head: source.seq,
    complete: page.complete,
    entries: page.records.map(toTuple),
  });
}

/** An announcement carrying `writes` of the node's own writes inline. */
function announceBody(source: RegistryStore, since: number, writes: number): Uint8Array {
  const { digest, count } = source.digest();
  const page = source.changesSince(since, { maxEntries: writes, maxBytes: 64 << 10 });
  return msgpack.pack({
    type: "announce",
    v: PROTOCOL_VERSION,
    node: source.nodeId,
    epoch: source.epoch,
    seq: source.seq,
    digest,
    count,
    accepts: ["deflate"],
    from: since,
    entries: page.records.map(toTuple),
  });
}

/** MB/s over `bodies`, each run `rounds` times; the median of `repeats` timings. */
function throughput(
  bodies: Uint8Array[],
  rounds: number,
  repeats: number,
  run: (i: number) => void,
): number {
  const bytes = bodies.reduce((sum, b) => sum + b.length, 0) * rounds;
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const started = performance.now();
    for (let k = 0; k < rounds; k++) for (let i = 0; i < bodies.length; i++) run(i);
    const seconds = (performance.now() - started) / 1000;
    rates.push(bytes / 1e6 / seconds);
  }
  return median(rates);
}

const scenario: Scenario = {
  name: "codec",
  description:
    "sync compression: node:zlib vs fflate, raw DEFLATE level 1, on pull batches and announcements",
  async run({ quick, log }) {
    const repeats = quick ? 3 : 7;
    const batchCount = quick ? 2 : 6;
    const batchEntries = 5_000;
    const source = store(batchEntries * batchCount);
    const batches = Array.from({ length: batchCount }, (_, i) =>
      batchBody(source, i * batchEntries, batchEntries),
    );
    const announcements = Array.from({ length: 200 }, (_, i) => announceBody(source, i * 7, 1));
    const workloads = [
      { name: `pull batch (${batchEntries} entries)`, bodies: batches, rounds: quick ? 1 : 3 },
      { name: "announcement (1 write inline)", bodies: announcements, rounds: quick ? 20 : 100 },
    ];
    const rows: BenchRow[] = [];
    for (const workload of workloads) {
      const rawBytes = median(workload.bodies.map((b) => b.length));
      log(`${workload.name}: ${workload.bodies.length} bodies, median ${rawBytes} raw bytes`);
      for (const codec of CODECS) {
        const compressed = workload.bodies.map((b) => codec.deflate(b));
        // Both codecs must read each other's output: the wire format is raw DEFLATE.
        for (let i = 0; i < compressed.length; i++) {
          const other = CODECS.find((c) => c !== codec)!;
          const back = other.inflate(compressed[i]!, workload.bodies[i]!.length);
          if (Buffer.compare(back, workload.bodies[i]!) !== 0)
            throw new Error(`${other.name} cannot read ${codec.name}`);
        }
        const deflateMBs = throughput(workload.bodies, workload.rounds, repeats, (i) =>
          codec.deflate(workload.bodies[i]!),
        );
        const inflateMBs = throughput(workload.bodies, workload.rounds, repeats, (i) =>
          codec.inflate(compressed[i]!, workload.bodies[i]!.length),
        );
        const raw = workload.bodies.reduce((s, b) => s + b.length, 0);
        const packed = compressed.reduce((s, b) => s + b.length, 0);
        const ratio = raw / packed;
        rows.push(
          { metric: `${workload.name}: ${codec.name} deflate`, value: deflateMBs, unit: "MB/s" },
          { metric: `${workload.name}: ${codec.name} inflate`, value: inflateMBs, unit: "MB/s" },
          {
            metric: `${workload.name}: ${codec.name} ratio`,
            value: ratio,
            unit: "raw/compressed",
            note: `${raw} → ${packed} bytes`,
          },
        );
      }
    }
    return rows;
  },
};

export default scenario;
