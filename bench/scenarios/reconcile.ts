/**
 * Differential reconciliation (DESIGN.md §4.3): two replicas of N entries that differ in d keys
 * find those keys with the range-based protocol, run in memory with every message encoded by
 * msgpackr. Per d: bytes each way, round trips, wall time; and the cost of the index on the write
 * path. The alternative it is measured against is sending the whole state (N entries).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { pack, unpack } from "msgpackr";
import { entryHash } from "../../src/core/entry.js";
import { packHlc } from "../../src/core/hlc.js";
import {
  keyHashOf,
  type MessageCodec,
  ReconIndex,
  type ReconItem,
  reconcileInMemory,
} from "../../src/core/reconcile/mod.js";
import { fromTuples, toTuple } from "../../src/sync/entry-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { decodeEnvelope, encodeEnvelope } from "../../src/wire/envelope.js";
import { syntheticRecord } from "../fleet/synthetic.js";
import { atMost, type BenchContext, type BenchRow, median, type Scenario } from "../scenario.js";

const codec: MessageCodec = { encode: (m) => pack(m), decode: (b) => unpack(b) };

/** What the store's Entry will carry for the index: key, version, hash lanes, key hash. */
class BenchEntry implements ReconItem {
  h0 = 0;
  h1 = 0;
  h2 = 0;
  h3 = 0;
  k0 = 0;
  k1 = 0;

  constructor(
    readonly service: string,
    readonly id: string,
    public hlc: number,
    public node: string,
    tombstone = false,
  ) {
    this.rehash(tombstone);
  }

  /** As Entry.rehash does: SHA-256 of the whole entry, truncated to four int32 lanes. */
  rehash(tombstone = false): void {
    const digest = entryHash({
      service: this.service,
      id: this.id,
      hlc: this.hlc,
      node: this.node,
      body: tombstone ? null : BENCH_BODY,
      status: tombstone ? "stopped" : "running",
      ver: "",
      ttlMs: tombstone ? 0 : 30_000,
      registeredAt: tombstone ? 0 : BASE_WALL_MS,
    });
    this.h0 = digest.readInt32BE(0);
    this.h1 = digest.readInt32BE(4);
    this.h2 = digest.readInt32BE(8);
    this.h3 = digest.readInt32BE(12);
  }
}

const BASE_WALL_MS = 1_764_000_000_000;
const BENCH_BODY = '{"host":"10.0.0.1","port":8080,"weight":100,"ttlMs":30000}';
/** The targets per d; the linear growth beyond is checked per difference. */
const TARGETS: Record<number, { roundTrips?: number; bytes?: number; wallMs?: number }> = {
  1: { roundTrips: 3, bytes: 2_048 },
  100: { bytes: 65_536, wallMs: 1_000 },
};

/** A row checked against `max` when the issue sets one for it. */
function upTo(
  metric: string,
  value: number,
  unit: string,
  max: number | undefined,
  note: string,
): BenchRow {
  return max === undefined ? { metric, value, unit, note } : atMost(metric, value, unit, max, note);
}

function percentOf(part: number, whole: number): string {
  const share = (100 * part) / whole;
  return `${share < 0.01 ? share.toExponential(1) : share.toFixed(2)}%`;
}

/** Entries per pull reply: the node's default `batchMaxEntries`. */
const FULL_TRANSFER_PAGE = 5_000;
const NODES = ["node-eu-west-1a", "node-eu-west-1b", "node-us-east-1a"] as const;

function makeEntries(n: number): BenchEntry[] {
  const out: BenchEntry[] = [];
  for (let i = 0; i < n; i++) {
    const service = `svc-${(i * 2_654_435_761) % 2_000}`;
    out.push(
      new BenchEntry(
        service,
        `${service}-7f9c5d8b6-${i}.eu-west-1:8443`,
        packHlc(BASE_WALL_MS + i, 0),
        NODES[i % 3]!,
      ),
    );
  }
  return out;
}

/** The whole registry shipped as the sync path ships it, for the baseline. */
interface FullTransfer {
  wireBytes: number;
  rawBytes: number;
  pages: number;
  ms: number;
}

/**
 * The baseline, measured rather than estimated: every entry, with a realistic body, sent as
 * pull replies of the default batch size (tuples, msgpack, deflate, checksum) and decoded and
 * validated as the receiving node does. No NATS hop, like the reconciliation runs beside it.
 */
function fullStateTransfer(entries: readonly BenchEntry[]): FullTransfer {
  const now = BASE_WALL_MS + entries.length;
  const started = performance.now();
  const result: FullTransfer = { wireBytes: 0, rawBytes: 0, pages: 0, ms: 0 };
  for (let from = 0; from < entries.length; from += FULL_TRANSFER_PAGE) {
    const tuples = [];
    for (let i = from; i < Math.min(entries.length, from + FULL_TRANSFER_PAGE); i++) {
      const e = entries[i]!;
      tuples.push(toTuple({ ...syntheticRecord(i, now, e.node), service: e.service, id: e.id }));
    }
    const encoded = encodeEnvelope(
      {
        type: "batch",
        v: PROTOCOL_VERSION,
        node: "bench",
        epoch: "bench",
        since: from,
        cursor: from + tuples.length,
        head: entries.length,
        complete: false,
        entries: tuples,
      },
      { compress: true, compressionThreshold: 1024 },
    );
    const { message } = decodeEnvelope(encoded.bytes, { maxBodyBytes: 64 << 20 });
    fromTuples((message as { entries: unknown }).entries);
    result.wireBytes += encoded.bytes.length;
    result.rawBytes += encoded.rawBytes;
    result.pages++;
  }
  result.ms = performance.now() - started;
  return result;
}

/** The four kinds of difference, in turn: d = 1 is a conflicting version (both sides act). */
const DIFFERENCE_KINDS = ["conflict", "onlyLeft", "onlyRight", "tombstone"] as const;

/**
 * Makes `b` differ from `a` in d keys (both start equal) and returns how to undo it, with the
 * expected key hashes each side must find.
 */
function diverge(
  a: ReconIndex<BenchEntry>,
  b: ReconIndex<BenchEntry>,
  shared: BenchEntry[],
  d: number,
  round: number,
) {
  const undo: (() => void)[] = [];
  const have = new Set<bigint>();
  const need = new Set<bigint>();
  for (let j = 0; j < d; j++) {
    const kind = DIFFERENCE_KINDS[j % DIFFERENCE_KINDS.length]!;
    const original = shared[(j * 7_919 + round * 104_729) % shared.length]!;
    if (kind === "onlyLeft" || kind === "onlyRight") {
      const side = kind === "onlyLeft" ? a : b;
      const fresh = new BenchEntry(
        "svc-new",
        `r${round}-${j}`,
        packHlc(BASE_WALL_MS + j, 1),
        NODES[0],
      );
      side.add(fresh);
      (kind === "onlyLeft" ? have : need).add(keyHashOf(fresh.service, fresh.id));
      undo.push(() => side.remove(fresh));
    } else {
      const newer = new BenchEntry(
        original.service,
        original.id,
        original.hlc + 1,
        NODES[1],
        kind === "tombstone",
      );
      newer.k0 = original.k0;
      newer.k1 = original.k1;
      if (!b.remove(original)) continue; // already diverged by an earlier j: skip
      b.add(newer);
      have.add(keyHashOf(original.service, original.id));
      need.add(keyHashOf(original.service, original.id));
      undo.push(() => {
        b.remove(newer);
        b.add(original);
      });
    }
  }
  return {
    have,
    need,
    undo: () => {
      for (const step of undo.reverse()) step();
    },
  };
}

function sameKeys(found: readonly bigint[], expected: Set<bigint>): boolean {
  const set = new Set(found);
  if (set.size !== expected.size) return false;
  for (const k of expected) if (!set.has(k)) return false;
  return true;
}

function gcFunction(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** The write budget of the store: 300,000 merges/s. */
const WRITE_BUDGET_NS = 1e9 / 300_000;
/** Ops per timed block; modes alternate block by block so that drift and noise hit all alike. */
const WRITE_BLOCK_OPS = 2_000;

/**
 * Cost of the index on a store-like write (the entry's SHA-256 rehash, as Entry.assign does):
 * the median over blocks of (block with the index update - block without).
 */
function writeCost(entries: BenchEntry[], index: ReconIndex<BenchEntry>, blocks: number) {
  const previous = { h0: 0, h1: 0, h2: 0, h3: 0 };
  let cursor = 0;
  const block = (mode: "none" | "rehash" | "removeAdd") => {
    const start = performance.now();
    for (let i = 0; i < WRITE_BLOCK_OPS; i++) {
      cursor = (cursor + 7_919) % entries.length;
      const entry = entries[cursor]!;
      previous.h0 = entry.h0;
      previous.h1 = entry.h1;
      previous.h2 = entry.h2;
      previous.h3 = entry.h3;
      if (mode === "removeAdd") index.remove(entry);
      entry.hlc += 1;
      entry.rehash();
      if (mode === "rehash") index.rehash(entry, previous);
      else if (mode === "removeAdd") index.add(entry);
    }
    return ((performance.now() - start) * 1e6) / WRITE_BLOCK_OPS;
  };
  const base: number[] = [];
  const rehash: number[] = [];
  const removeAdd: number[] = [];
  for (let r = 0; r < blocks; r++) {
    const without = block("none");
    base.push(without);
    rehash.push(block("rehash") - without);
    removeAdd.push(block("removeAdd") - without);
  }
  return { baseNs: median(base), rehashNs: median(rehash), removeAddNs: median(removeAdd) };
}

async function run(context: BenchContext): Promise<BenchRow[]> {
  const gc = gcFunction();
  const n = context.quick ? 100_000 : 1_000_000;
  const label = context.quick ? "N=100k" : "N=1M";
  const rows: BenchRow[] = [];

  context.log(`generating ${n} entries (SHA-256 entry hashes)`);
  const entries = makeEntries(n);

  // Index build: upserts/s of new keys, key hash included.
  const buildStart = performance.now();
  let first: ReconIndex<BenchEntry> | undefined = new ReconIndex<BenchEntry>();
  for (const e of entries) first.add(e);
  const buildMs = performance.now() - buildStart;
  first = undefined;
  rows.push({
    metric: `index build, new keys (${label})`,
    value: (n / buildMs) * 1_000,
    unit: "upserts/s",
    note: "key hash included",
  });

  // Memory: a second index over the same entries (key hashes computed, key strings flattened, so
  // only the index's own structures count), typed arrays included.
  const memory = () => {
    for (let i = 0; i < 3; i++) gc();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  const heapBefore = memory();
  const a = new ReconIndex<BenchEntry>();
  for (const e of entries) a.add(e);
  const bytesPerEntry = (memory() - heapBefore) / n;
  rows.push(
    atMost(
      `index memory per entry (${label})`,
      bytesPerEntry + 16,
      "bytes",
      40,
      `${bytesPerEntry.toFixed(1)} in the index + 16 for k0/k1 on Entry`,
    ),
  );
  // The other replica, equal to `a`: both hold the same entry objects.
  const b = new ReconIndex<BenchEntry>();
  for (const e of entries) b.add(e);

  // Baselines: the whole state sent as pull replies, and as a (key hash, version) list.
  context.log("full state transfer");
  const full = fullStateTransfer(entries);
  rows.push({
    metric: `full state transfer, bytes (${label})`,
    value: full.wireBytes,
    unit: "bytes",
    note: `deflated from ${(full.rawBytes / 1e6).toFixed(0)} MB of msgpack`,
  });
  rows.push({
    metric: `full state transfer, round trips (${label})`,
    value: full.pages,
    unit: "",
    note: `pages of ${FULL_TRANSFER_PAGE.toLocaleString("en-US")} entries`,
  });
  rows.push({
    metric: `full state transfer, wall (${label})`,
    value: full.ms,
    unit: "ms",
    note: "encode, compress, decode, validate; one run",
  });
  const sample = entries.slice(0, 1_000);
  const versionBytes =
    pack(sample.map((e) => [keyHashOf(e.service, e.id), e.hlc, e.node])).length / sample.length;
  rows.push({
    metric: `(key hash, version) list (${label})`,
    value: versionBytes * n,
    unit: "bytes",
    note: "msgpack, from 1,000 sampled: what a hash-list exchange would send",
  });

  const perDifference: Record<number, number> = {};
  for (const d of context.quick ? [0, 1, 100, 10_000] : [0, 1, 100, 10_000]) {
    const reps = d >= 10_000 ? 3 : 7;
    const walls: number[] = [];
    let last: ReturnType<typeof reconcileInMemory> | undefined;
    let correct = true;
    for (let r = 0; r < reps; r++) {
      const change = diverge(a, b, entries, d, r);
      const start = performance.now();
      const result = reconcileInMemory(a, b, { salt: (r * 2_654_435_761) >>> 0 }, codec);
      walls.push(performance.now() - start);
      correct &&= sameKeys(result.have, change.have) && sameKeys(result.need, change.need);
      last = result;
      change.undo();
    }
    const up = last!.queryBytes.reduce((s, x) => s + x, 0);
    const down = last!.replyBytes.reduce((s, x) => s + x, 0);
    const total = up + down;
    perDifference[d] = d > 0 ? total / d : 0;
    context.log(
      `d=${d}: ${last!.roundTrips} round trips, ${up} B up, ${down} B down, ${median(walls).toFixed(1)} ms, correct=${correct}`,
    );
    const note = correct ? "every difference found, nothing else" : "WRONG DIFFERENCES";
    const trips = last!.roundTrips;
    const bytesNote = `${up} up, ${down} down; ${percentOf(total, full.wireBytes)} of the full transfer`;
    const wall = median(walls);
    const wallNote = `median of ${reps}; the full transfer took ${full.ms.toFixed(0)} ms`;
    const target = TARGETS[d] ?? {};
    rows.push(
      upTo(`round trips, d=${d} (${label})`, trips, "", target.roundTrips, note),
      upTo(`bytes total, d=${d} (${label})`, total, "bytes", target.bytes, bytesNote),
      upTo(`wall, d=${d} (${label})`, wall, "ms", target.wallMs, wallNote),
    );
    if (!correct)
      rows.push({ metric: `correct, d=${d}`, value: 0, unit: "", target: "1", ok: false });
  }
  rows.push(
    atMost(
      `bytes per difference, d=10,000 vs d=100 (${label})`,
      perDifference[10_000]!,
      "bytes",
      Math.ceil(perDifference[100]!),
      "overhead at most linear in d",
    ),
  );
  // Write-path cost at 10k and at N, on top of a store-like write (SHA-256 of the new version).
  // Last, because it changes the entries' versions under `a` (and so `b`, which shares them).
  const small = makeEntries(10_000);
  const smallIndex = new ReconIndex<BenchEntry>();
  for (const e of small) smallIndex.add(e);
  const blocks = context.quick ? 40 : 150;
  for (const [size, list, index] of [
    ["10k", small, smallIndex],
    [label.slice(2), entries, a],
  ] as const) {
    const cost = writeCost(list, index, blocks);
    rows.push(
      atMost(
        `index rehash per write (N=${size})`,
        cost.rehashNs,
        "ns",
        Math.round(WRITE_BUDGET_NS / 10),
        `a tenth of a write at 300k/s; the write itself took ${cost.baseNs.toFixed(0)} ns`,
      ),
    );
    rows.push({
      metric: `index remove+add per write (N=${size})`,
      value: cost.removeAddNs,
      unit: "ns",
      note: "the slower way to replace an entry",
    });
    rows.push({
      metric: `store-like writes with index (N=${size})`,
      value: 1e9 / (cost.baseNs + cost.rehashNs),
      unit: "writes/s",
      note: "SHA-256 rehash + index rehash, one core",
    });
  }

  return rows;
}

const scenario: Scenario = {
  name: "reconcile",
  description:
    "range-based reconciliation of two replicas differing in d keys, vs full state transfer",
  run,
};

export default scenario;
