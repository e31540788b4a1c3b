/**
 * One registry node in a worker thread, so a benchmark fleet uses both cores the way separate
 * processes would, while the parent still learns when each entry reached each node.
 */
import { parentPort, workerData } from "node:worker_threads";
import { parseNodeConfig } from "../../src/config/load.js";
import type { EntryRecord } from "../../src/core/mod.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { syntheticRecord } from "./synthetic.js";

export interface NodeWorkerData {
  config: Record<string, unknown>;
  /** Fill the replica with this many synthetic entries before starting (large-registry runs). */
  preload?: number;
  /** Report replicated entries of this service to the parent, with the time they were applied. */
  watchService?: string;
}

export type NodeWorkerMessage =
  | { type: "ready"; id: string }
  | { type: "replicated"; id: string; ids: string[]; at: number }
  | { type: "stopped"; id: string };

const data = workerData as NodeWorkerData;
const config = parseNodeConfig(data.config);
const node = new RegistryNode({ config, codec: createSyncCodec(config) });
if (data.preload !== undefined) preload(node, data.preload);
const post = (m: NodeWorkerMessage) => parentPort!.postMessage(m);

if (data.watchService !== undefined) {
  const service = data.watchService;
  node.onReplicated((entries) => {
    const at = performance.timeOrigin + performance.now();
    const ids: string[] = [];
    for (const e of entries) if (e.service === service) ids.push(e.id);
    if (ids.length > 0) post({ type: "replicated", id: node.id, ids, at });
  });
}

parentPort!.on("message", (m: { type: string }) => {
  if (m.type === "stop") void node.stop().then(() => post({ type: "stopped", id: node.id }));
});

await node.start();
post({ type: "ready", id: node.id });

/** Realistic entries (~300 bytes of instance JSON each, 200 services) merged straight in. */
function preload(target: RegistryNode, count: number): void {
  const now = Date.now();
  const chunk: EntryRecord[] = [];
  for (let i = 0; i < count; i++) {
    chunk.push(syntheticRecord(i, now, target.id));
    if (chunk.length === 10_000 || i === count - 1) {
      target.store.merge(chunk);
      chunk.length = 0;
    }
  }
}
