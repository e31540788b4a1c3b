import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { describe, test } from "node:test";
import { connect, type NatsConnection } from "nats";
import { parseNodeConfig } from "../../src/config/load.js";
import { syncSubjects } from "../../src/contract/subjects.js";
import { InstanceSchema, RegistryStore } from "../../src/core/mod.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { toTuple } from "../../src/sync/entry-codec.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { converged, createNode, instance, startFleet, stopAll } from "./fleet.js";

const json = new TextEncoder();

/** A peer made by hand: announces a state and answers pulls however the test says. */
function fakePeer(id: string, prefix: string) {
  const config = parseNodeConfig({ id, memory: true, httpListen: "", compressionThreshold: 64 });
  const codec = createSyncCodec(config);
  const store = new RegistryStore({
    nodeId: id,
    epoch: "fake-epoch",
    wallClock: Date.now,
    maxClockSkewMs: 30_000,
    tombstoneTtlMs: 3_600_000,
  });
  const subjects = syncSubjects(prefix);
  return {
    store,
    codec,
    announce(nc: NatsConnection): void {
      const { digest, count } = store.digest();
      const message = {
        type: "announce",
        v: PROTOCOL_VERSION,
        node: id,
        epoch: store.epoch,
        seq: store.seq,
        digest,
        count,
        accepts: ["deflate"],
        at: store.clock.now(),
      };
      nc.publish(subjects.announce, codec.encode(message, false).bytes);
    },
    /** The whole log as one batch, answering `request` (whose nonce it echoes). */
    batch(request: Uint8Array): Uint8Array {
      const { nonce } = codec.decode(request).message as { nonce: string };
      const page = store.changesSince(0, { maxEntries: 10_000, maxBytes: 1 << 30 });
      const message = {
        type: "batch",
        v: PROTOCOL_VERSION,
        node: id,
        epoch: store.epoch,
        since: 0,
        cursor: page.cursor,
        head: store.seq,
        complete: true,
        entries: page.records.map(toTuple),
        nonce,
      };
      return codec.encode(message, true).bytes;
    },
    pullSubject: subjects.pull(id),
  };
}

describe("sync under peer failures", () => {
  const nats = sharedNatsServer();

  test("a peer that never answers is retried with backoff, then skipped without stalling the others", async () => {
    const prefix = "ghost";
    const nodes = await startFleet(nats.server.url, 2, { subjectPrefix: prefix });
    try {
      const ghost = fakePeer("ghost", prefix);
      for (let i = 0; i < 5; i++)
        ghost.store.register(InstanceSchema.parse(instance("g", `g${i}`)));
      // Swallow pulls: every pull times out.
      const pulls: number[] = [];
      const sub = nats.nc.subscribe(ghost.pullSubject, { callback: () => pulls.push(Date.now()) });
      ghost.announce(nats.nc);
      await waitFor(
        () => nodes.every((n) => n.syncEngine.peers.get("ghost")?.state === "suspect"),
        {
          timeoutMs: 10_000,
          message: "ghost marked suspect",
        },
      );
      // Meanwhile the real peers keep syncing with each other.
      const writer = await connect({ servers: nats.server.url });
      for (let i = 0; i < 20; i++)
        await writer.request(
          `${prefix}.register`,
          json.encode(JSON.stringify(instance("api", `a${i}`))),
        );
      await waitFor(() => converged(nodes), { timeoutMs: 5_000, message: "real peers converged" });
      await writer.close();
      // Skipped: no pulls while suspect (the probe interval is 1 s; look at a shorter window).
      const before = pulls.length;
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(pulls.length - before <= 2, `pulls kept coming: ${pulls.length - before}`);
      // Retries were spaced (backoff), not a tight loop: 3 failures each, each after a 300 ms timeout.
      assert.ok(before >= 6 && before <= 12, `unexpected pull count ${before}`);
      sub.unsubscribe();
    } finally {
      await stopAll(nodes);
    }
  });

  test("a corrupted batch is rejected and pulled again, never applied", async () => {
    const prefix = "corrupt";
    const [node] = await startFleet(nats.server.url, 1, { subjectPrefix: prefix });
    try {
      const peer = fakePeer("evil", prefix);
      for (let i = 0; i < 50; i++)
        peer.store.register(
          InstanceSchema.parse(instance("pay", `p${i}`, { tags: { zone: "z1", rack: `r${i}` } })),
        );
      let served = 0;
      const sub = nats.nc.subscribe(peer.pullSubject, {
        callback: (_e, msg) => {
          const bytes = peer.batch(msg.data);
          if (served++ === 0) {
            // Flip one byte in the body, as a faulty link or buffer would.
            bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0x40;
          }
          msg.respond(bytes);
        },
      });
      peer.announce(nats.nc);
      await waitFor(() => node!.store.lookup({ service: "pay" }, Date.now()).length === 50, {
        timeoutMs: 5_000,
        message: "batch applied after re-pull",
      });
      assert.ok(served >= 2, "the batch was pulled again");
      const rejected = await node!.metrics.batchesRejected.get();
      const total = rejected.values.reduce((sum, v) => sum + v.value, 0);
      assert.ok(total >= 1, "the corrupted batch was counted");
      assert.equal(node!.store.digest().digest, peer.store.digest().digest);
      sub.unsubscribe();
    } finally {
      await stopAll([node!]);
    }
  });

  test("SIGKILL of a node mid-sync does not stall the others", async () => {
    const prefix = "kill";
    const child: ChildProcess = spawn(
      process.execPath,
      [
        "dist/src/cli/main.js",
        "node",
        "--nats",
        nats.server.url,
        "--id",
        "victim",
        "--memory",
        "--subject-prefix",
        prefix,
        "--http-listen",
        "",
        "--log-level",
        "warn",
        "--sync-interval-ms",
        "200",
      ],
      { stdio: "ignore" },
    );
    const writer = await connect({ servers: nats.server.url });
    let nodes: RegistryNode[] = [];
    try {
      await waitFor(
        async () => {
          try {
            await writer.request(`${prefix}.services`, json.encode("{}"), { timeout: 200 });
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 10_000, message: "victim serving" },
      );
      for (let i = 0; i < 3_000; i++)
        writer.publish(
          `${prefix}.register`,
          json.encode(JSON.stringify(instance("bulk", `b${i}`))),
        );
      await writer.request(`${prefix}.services`, json.encode("{}"), { timeout: 30_000 });
      const victimExited = new Promise<void>((resolve) =>
        child.exitCode !== null || child.signalCode !== null
          ? resolve()
          : child.once("exit", () => resolve()),
      );
      // Killed as soon as either survivor has taken a first page from it: mid-sync.
      nodes = ["s1", "s2"].map((id) => createNode(nats.server.url, id, { subjectPrefix: prefix }));
      const kill = () => child.kill("SIGKILL");
      for (const node of nodes) node.onBootstrapProgress(kill);
      await Promise.all(nodes.map((n) => n.start()));
      // Neither had to bootstrap (the machine was slow to start them): kill it now.
      kill();
      await victimExited;
      // A request the server handed to the victim before it saw its socket close dies with it,
      // as any request in flight on a killed node does; every later one is the survivors'.
      let lost = 0;
      for (let i = 0; i < 20; i++) {
        for (;;) {
          try {
            await writer.request(
              `${prefix}.register`,
              json.encode(JSON.stringify(instance("after", `x${i}`))),
              // A stall would last forever; a loaded test machine may well take over a second.
              { timeout: 5_000 },
            );
            break;
          } catch (error) {
            if (++lost > 1) throw error;
          }
        }
      }
      await waitFor(
        () => nodes.every((n) => n.store.lookup({ service: "after" }, Date.now()).length === 20),
        { timeoutMs: 5_000, message: "survivors keep syncing" },
      );
    } finally {
      child.kill("SIGKILL");
      await writer.close();
      await stopAll(nodes);
    }
  });
});
