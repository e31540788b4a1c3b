/**
 * A registry node in its own process, the target of one attack: the parent asks for its CPU
 * time, peak memory and counters over IPC, so each attack is measured on a fresh process.
 */
import { parseNodeConfig } from "../../src/config/load.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";

export interface TargetStats {
  cpuSeconds: number;
  maxRssMb: number;
  reconciliations: number;
  pullResets: number;
  rejected: Record<string, number>;
  peers: number;
  entries: number;
}

const config = parseNodeConfig(JSON.parse(process.argv[2]!));
const node = new RegistryNode({ config, codec: createSyncCodec(config) });

async function stats(): Promise<TargetStats> {
  const usage = process.resourceUsage();
  const sum = async (
    metric: {
      get(): Promise<{ values: { value: number; labels: Record<string, string | number> }[] }>;
    },
    match: (l: Record<string, string | number>) => boolean,
  ) => (await metric.get()).values.filter((v) => match(v.labels)).reduce((s, v) => s + v.value, 0);
  const rejected: Record<string, number> = {};
  for (const v of (await node.metrics.batchesRejected.get()).values)
    rejected[String(v.labels.reason)] = v.value;
  return {
    cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    maxRssMb: usage.maxRSS / 1024,
    reconciliations: await sum(node.metrics.reconciliations, () => true),
    pullResets: await sum(node.metrics.syncRounds, (l) => l.outcome === "reset"),
    rejected,
    peers: node.syncEngine.peers.size,
    entries: node.store.size,
  };
}

process.on("message", (m: { type: string }) => {
  if (m.type === "stats") void stats().then((s) => process.send!({ type: "stats", stats: s }));
  if (m.type === "stop") void node.stop().then(() => process.exit(0));
});

await node.start();
process.send!({ type: "ready" });
