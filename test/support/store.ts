import { RegistryStore } from "../../src/core/mod.js";

/** A store for tests of node `nodeId` on the given clock, with bounds far from the tests' times. */
export function testStore(nodeId: string, clock: () => number, epoch = nodeId): RegistryStore {
  return new RegistryStore({
    nodeId,
    epoch,
    wallClock: clock,
    maxClockSkewMs: 30_000,
    tombstoneTtlMs: 600_000,
  });
}
