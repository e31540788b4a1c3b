import type { WorkerFleet } from "./fleet.js";

/**
 * When each entry id of the watched service first reached each node: `id → node → epoch ms`,
 * filled as the fleet's workers report replicated entries (NodeWorkerData.watchService).
 */
export function recordReplications(fleet: WorkerFleet): Map<string, Map<string, number>> {
  const seen = new Map<string, Map<string, number>>();
  fleet.onMessage((m) => {
    if (m.type !== "replicated") return;
    for (const id of m.ids) {
      let byNode = seen.get(id);
      if (byNode === undefined) {
        byNode = new Map();
        seen.set(id, byNode);
      }
      if (!byNode.has(m.id)) byNode.set(m.id, m.at);
    }
  });
  return seen;
}
