import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseNodeConfig } from "../../src/config/load.js";
import type { CustomMerge, Entry } from "../../src/core/mod.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { MemoryStorage, type ReplicaStorage } from "../../src/storage/storage.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { MemoryNetwork } from "../../src/sync/memory-transport.js";
import { REAL_TIMERS } from "../../src/sync/timers.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { FAST_SYNC } from "./fleet.js";

/** Keeps the instance on the higher port, whatever the versions say. */
const higherPort: CustomMerge = (a, b) =>
  (JSON.parse(a.body ?? '{"port":0}').port ?? 0) >= (JSON.parse(b.body ?? '{"port":0}').port ?? 0)
    ? a
    : b;

/** Memory storage that counts what it was asked to make durable and the cursors it saved;
 * with `failCursors` every cursor write fails, as a full or broken disk would make it. */
function countingStorage(failCursors = false): ReplicaStorage & {
  committed: number;
  cursorWrites: number;
} {
  const inner = new MemoryStorage();
  const storage = {
    committed: 0,
    cursorWrites: 0,
    load: () => inner.load(),
    initialise: () => inner.initialise(),
    commit: async (entries: readonly Entry[]) => {
      storage.committed += entries.length;
    },
    remove: () => inner.remove(),
    saveCursor: async () => {
      storage.cursorWrites++;
      if (failCursors) throw new Error("MDB_MAP_FULL: Environment mapsize limit reached");
    },
    saveUnreported: () => inner.saveUnreported(),
    close: () => inner.close(),
  };
  return storage;
}

describe("RegistryNode as a composition root", () => {
  const nats = sharedNatsServer();

  test("storage, sync transport and a custom merge are injected", async () => {
    const network = new MemoryNetwork({ timers: REAL_TIMERS, maxDelayMs: 0 });
    const nodes = ["x", "y"].map((id) => {
      const config = parseNodeConfig({
        ...FAST_SYNC,
        nats: [nats.server.url],
        id,
        subjectPrefix: "compose",
      });
      const storage = countingStorage();
      const node = new RegistryNode({
        config,
        codec: createSyncCodec(config),
        storage,
        syncTransport: network.connect(id),
        merge: higherPort,
      });
      return { node, storage };
    });
    const [x, y] = nodes.map((n) => n.node) as [RegistryNode, RegistryNode];
    try {
      await Promise.all([x.start(), y.start()]);
      const base = { service: "api", id: "i1", host: "10.0.0.1", status: "running" as const };
      y.store.register({ ...base, port: 9000, weight: 100, ttlMs: 60_000 });
      x.store.register({ ...base, port: 80, weight: 100, ttlMs: 60_000 });
      x.syncEngine.notifyChange();
      y.syncEngine.notifyChange();
      const port = (node: RegistryNode) =>
        JSON.parse(node.store.get("api", "i1")?.body ?? "{}").port as number | undefined;
      await waitFor(() => port(x) === 9000 && port(y) === 9000, {
        timeoutMs: 10_000,
        message: "the custom merge kept the higher port on both nodes, over the memory transport",
      });
      assert.ok(nodes[0]!.storage.committed > 0, "replicated entries went to the injected storage");
    } finally {
      await Promise.all([x.stop(), y.stop()]);
    }
  });

  test("a cursor that cannot be saved costs a re-pull after a restart, not the node", async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on("unhandledRejection", onRejection);
    const storage = countingStorage(true);
    const start = (id: string, injected?: ReplicaStorage) => {
      const config = parseNodeConfig({
        ...FAST_SYNC,
        nats: [nats.server.url],
        id,
        subjectPrefix: "cursorfail",
      });
      return new RegistryNode({ config, codec: createSyncCodec(config), storage: injected });
    };
    const writer = start("w");
    const reader = start("r", storage);
    try {
      await Promise.all([writer.start(), reader.start()]);
      for (let i = 0; i < 20; i++)
        writer.store.register({
          service: "s",
          id: `i${i}`,
          host: "10.0.0.1",
          port: 80,
          status: "running",
          weight: 100,
          ttlMs: 60_000,
        });
      writer.syncEngine.notifyChange();
      await waitFor(() => reader.store.digest().digest === writer.store.digest().digest, {
        timeoutMs: 10_000,
        message: "the reader pulled the writer's entries",
      });
      await waitFor(() => storage.cursorWrites > 0, { message: "the reader saved a cursor" });
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(rejections, [], "no failed cursor write escaped unhandled");
      assert.ok(reader.isReady, "the reader still serves");
    } finally {
      process.off("unhandledRejection", onRejection);
      await Promise.all([writer.stop(), reader.stop()]);
    }
  });
});
