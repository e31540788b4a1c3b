import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseNodeConfig } from "../../src/config/load.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { DataDirError } from "../../src/storage/lmdb-storage.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { converged, instance, startNode, stopAll } from "./fleet.js";

const json = new TextEncoder();

async function wireIn(node: RegistryNode): Promise<number> {
  const metric = await node.metrics.syncBytes.get();
  return metric.values
    .filter((v) => v.labels.direction === "in" && v.labels.stage === "wire")
    .reduce((s, v) => s + v.value, 0);
}

describe("durable nodes", () => {
  const nats = sharedNatsServer();
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "regsync-durable-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("a restart keeps entries, epoch and seq, and pulls only what changed meanwhile", async () => {
    const prefix = "dur";
    const dataDir = join(dir, "x");
    let x = await startNode(nats.server.url, "x", {
      subjectPrefix: prefix,
      memory: false,
      dataDir,
    });
    const y = await startNode(nats.server.url, "y", {
      subjectPrefix: prefix,
      memory: false,
      dataDir: join(dir, "y"),
    });
    try {
      for (let i = 0; i < 2_000; i++) {
        await nats.nc.request(
          `${prefix}.register`,
          json.encode(JSON.stringify(instance("api", `a${i}`))),
          { timeout: 5_000 },
        );
      }
      await waitFor(() => converged([x, y]), { timeoutMs: 10_000, message: "converged" });
      const full = await wireIn(x);
      const before = { epoch: x.store.epoch, seq: x.store.seq, digest: x.store.digest().digest };
      await x.stop();
      for (let i = 0; i < 20; i++) {
        await nats.nc.request(
          `${prefix}.register`,
          json.encode(JSON.stringify(instance("web", `w${i}`))),
          { timeout: 5_000 },
        );
      }
      x = await startNode(nats.server.url, "x", { subjectPrefix: prefix, memory: false, dataDir });
      assert.equal(x.store.epoch, before.epoch);
      assert.ok(x.store.seq >= before.seq);
      await waitFor(() => converged([x, y]), {
        timeoutMs: 10_000,
        message: "converged after the restart",
      });
      assert.equal(x.store.lookup({ service: "web" }, Date.now()).length, 20);
      const pulled = await wireIn(x);
      assert.ok(pulled < full / 10, `restart pulled ${pulled} B; the full state was ${full} B`);
    } finally {
      await stopAll([x, y]);
    }
  });

  test("a data directory of another node, or not regsync's, is refused and left untouched", async () => {
    const owned = join(dir, "owned");
    const a = await startNode(nats.server.url, "owner", {
      subjectPrefix: "own",
      memory: false,
      dataDir: owned,
    });
    await a.stop();
    const config = parseNodeConfig({
      id: "intruder",
      nats: [nats.server.url],
      memory: false,
      dataDir: owned,
      httpListen: "",
      logLevel: "silent",
    });
    assert.throws(
      () => new RegistryNode({ config, codec: createSyncCodec(config) }),
      (e: unknown) => {
        assert.ok(e instanceof DataDirError);
        assert.match(e.message, /belongs to node "owner"/);
        return true;
      },
    );
    const foreign = join(dir, "foreign");
    const other = parseNodeConfig({
      id: "f",
      nats: [nats.server.url],
      memory: false,
      dataDir: foreign,
      httpListen: "",
      logLevel: "silent",
    });
    rmSync(foreign, { recursive: true, force: true });
    await import("node:fs").then((fs) => fs.mkdirSync(foreign));
    writeFileSync(join(foreign, "notes.txt"), "precious");
    assert.throws(
      () => new RegistryNode({ config: other, codec: createSyncCodec(other) }),
      /holds no regsync data/,
    );
    const corrupt = join(dir, "corrupt");
    await import("node:fs").then((fs) => fs.mkdirSync(corrupt));
    writeFileSync(join(corrupt, "data.mdb"), Buffer.alloc(64 * 1024, 0x5a));
    const bad = parseNodeConfig({
      id: "c",
      nats: [nats.server.url],
      memory: false,
      dataDir: corrupt,
      httpListen: "",
      logLevel: "silent",
    });
    assert.throws(
      () => new RegistryNode({ config: bad, codec: createSyncCodec(bad) }),
      DataDirError,
    );
  });

  test("a data directory whose name holds a dot is a directory, not a file", async () => {
    const dataDir = join(dir, "dur.Fjma");
    let node = await startNode(nats.server.url, "dot", {
      subjectPrefix: "dot",
      memory: false,
      dataDir,
    });
    try {
      const reply = await nats.nc.request(
        "dot.register",
        json.encode(JSON.stringify(instance("api", "a-1"))),
      );
      assert.equal(JSON.parse(new TextDecoder().decode(reply.data)).ok, true);
      await node.stop();
      assert.ok(existsSync(join(dataDir, "data.mdb")));
      node = await startNode(nats.server.url, "dot", {
        subjectPrefix: "dot",
        memory: false,
        dataDir,
      });
      assert.equal(node.store.size, 1);
    } finally {
      await node.stop();
    }
  });
});
