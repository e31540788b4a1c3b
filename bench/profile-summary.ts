/**
 * Breaks node CPU profiles (`node --cpu-prof`, e.g. from `REGSYNC_BENCH_CPU_PROF_DIR=dir npm
 * run bench -- writes`) down by what the registry was doing:
 *
 *   node dist/bench/profile-summary.js DIR|FILE… [--cpu-per-write µs]
 *
 * Each sample goes to the first category (in the order below) that matches any frame of its
 * stack, so time spent in LMDB under a client write counts as "LMDB commit", not as the write;
 * a category marked `leaf` looks at the sampled frame alone. Socket writes are one: acks sent as
 * a commit resolves, or an announcement's publish, would otherwise be counted as LMDB or as
 * announcing (5% of 3 durable nodes' samples fell under LMDB that way).
 * Idle time and startup are left out of the shares. A profile's sample intervals are wall time,
 * so on a loaded machine they count time the process waited for a core too; the shares hold,
 * the absolute figures do not. Hence `--cpu-per-write X` splits X by the shares: µs of CPU per
 * write, per category, summed over every profile given. `--cpu-prof` samples the main thread
 * only, so X is the bench's "main threads" figure (its log line and the CPU row's note, from
 * /proc); LMDB's writer, libuv's pool and V8's helper threads are the rest of the CPU figure.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface Category {
  name: string;
  matches: (frame: CallFrame) => boolean;
  /** Match the sampled (innermost) frame only, not every frame of the stack. */
  leaf?: boolean;
}

const inFile =
  (path: string, ...functions: string[]) =>
  (f: CallFrame) =>
    f.url.includes(path) && (functions.length === 0 || functions.includes(f.functionName));

/** In priority order: the first that matches any frame of a sample's stack takes the sample. */
export const CATEGORIES: readonly Category[] = [
  { name: "startup (module loading)", matches: (f) => f.url.startsWith("node:internal/modules") },
  { name: "garbage collection", matches: (f) => f.functionName === "(garbage collector)" },
  {
    name: "socket writes",
    matches: (f) => f.functionName === "writeBuffer" || f.functionName === "writev",
    leaf: true,
  },
  { name: "cursor save", matches: inFile("/storage/", "saveCursor") },
  {
    name: "LMDB commit",
    matches: (f) => f.url.includes("/node_modules/lmdb/") || f.url.includes("/storage/"),
  },
  { name: "heads answers (the bench's probe)", matches: inFile("/sync/heads.", "answerHeads") },
  { name: "announce encode", matches: inFile("/sync/announcer.") },
  { name: "pull: serve a peer", matches: inFile("/sync/pull-server.") },
  { name: "envelope decode (peer)", matches: inFile("/wire/envelope.", "decodeEnvelope") },
  { name: "envelope encode (peer)", matches: inFile("/wire/envelope.", "encodeEnvelope") },
  {
    name: "entry validation (peer)",
    matches: (f) => inFile("/sync/entry-codec.")(f) || inFile("/sync/messages.", "parseMessage")(f),
  },
  {
    name: "merge (peer)",
    matches: (f) =>
      (f.url.includes("/core/") && ["merge", "mergeOne", "applyRecord"].includes(f.functionName)) ||
      inFile("/sync/sync-engine.", "apply", "applyInline")(f),
  },
  { name: "pull: ask a peer", matches: inFile("/sync/pull-client.") },
  { name: "other sync", matches: inFile("/sync/") },
  {
    name: "client request parse + validation",
    matches: inFile("/node/api.", "parseJson", "validate"),
  },
  { name: "store write (client)", matches: inFile("/core/store.") },
  { name: "event publish", matches: inFile("/node/changes.") },
  { name: "reply render", matches: inFile("/core/render.") },
  { name: "request handling (other)", matches: (f) => f.url.includes("/node/") },
  {
    name: "NATS client and socket I/O",
    matches: (f) =>
      f.url.includes("/node_modules/nats/") ||
      f.url.includes("node_transport") ||
      ["writeUtf8String", "onStreamRead"].includes(f.functionName),
  },
  { name: "metrics", matches: (f) => f.url.includes("/node_modules/prom-client/") },
];
const OTHER = "other (runtime, timers, microtasks)";

export interface Breakdown {
  /** CPU µs per category, idle left out. */
  micros: Map<string, number>;
  totalMicros: number;
}

export function summarise(profiles: readonly CpuProfile[]): Breakdown {
  const micros = new Map<string, number>();
  let totalMicros = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const categoryOf = new Map<number, string | undefined>();
    const categorise = (id: number): string | undefined => {
      if (categoryOf.has(id)) return categoryOf.get(id);
      const frames: CallFrame[] = [];
      for (let x: number | undefined = id; x !== undefined; x = parent.get(x))
        frames.push(byId.get(x)!.callFrame);
      let found: string | undefined;
      if (frames[0]?.functionName === "(idle)") found = undefined;
      else
        found =
          CATEGORIES.find((c) =>
            c.leaf ? c.matches(frames[0]!) : frames.some((f) => c.matches(f)),
          )?.name ?? OTHER;
      categoryOf.set(id, found);
      return found;
    };
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0;
      const category = categorise(id);
      if (category === undefined) return;
      micros.set(category, (micros.get(category) ?? 0) + delta);
      totalMicros += delta;
    });
  }
  return { micros, totalMicros };
}

function profilesIn(paths: readonly string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith(".cpuprofile"))
          .map((f) => join(p, f))
      : [p],
  );
}

const STARTUP = CATEGORIES[0]!.name;

function main(): void {
  const args = process.argv.slice(2);
  const at = args.indexOf("--cpu-per-write");
  const perWrite = at >= 0 ? Number(args[at + 1]) : undefined;
  if (perWrite !== undefined && !(perWrite > 0)) {
    console.error("--cpu-per-write takes the bench's CPU-µs per acked write (a positive number)");
    process.exit(2);
  }
  const paths = args.filter((a, i) => !a.startsWith("--") && (at < 0 || i !== at + 1));
  const files = profilesIn(paths);
  if (files.length === 0) {
    console.error("usage: profile-summary DIR|FILE… [--cpu-per-write µs]  (no .cpuprofile found)");
    process.exit(2);
  }
  const { micros } = summarise(files.map((f) => JSON.parse(readFileSync(f, "utf8")) as CpuProfile));
  const startup = micros.get(STARTUP) ?? 0;
  micros.delete(STARTUP);
  const busy = [...micros.values()].reduce((a, b) => a + b, 0);
  console.log(
    `${files.length} profile(s): ${(busy / 1e6).toFixed(2)} s sampled busy, ` +
      `${(startup / 1e6).toFixed(2)} s startup left out`,
  );
  for (const [name, us] of [...micros].sort((a, b) => b[1] - a[1])) {
    const share = us / busy;
    const cpu =
      perWrite === undefined ? "" : `${(share * perWrite).toFixed(1).padStart(7)} µs/write`;
    console.log(`${`${(100 * share).toFixed(1)}%`.padStart(6)}  ${cpu}  ${name}`);
  }
  if (perWrite !== undefined)
    console.log(`${"100%".padStart(6)}  ${perWrite.toFixed(1).padStart(7)} µs/write  total`);
}

if (process.argv[1]?.endsWith("profile-summary.js")) main();
