import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseNodeConfig } from "../../src/config/load.js";
import { syncSubjects } from "../../src/subjects.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { startNode, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { rejectedCount } from "../support/peer-entries.js";
import { waitFor } from "../support/wait.js";

const codec = createSyncCodec(parseNodeConfig({ id: "fake", memory: true, httpListen: "" }));

function announcement(node: string, at: number): Uint8Array {
  return codec.encode(
    {
      type: "announce",
      v: PROTOCOL_VERSION,
      node,
      epoch: `${node}-epoch`,
      seq: 0,
      digest: "0".repeat(32),
      count: 0,
      accepts: [],
      at,
    },
    false,
  ).bytes;
}

describe("peers are bounded", () => {
  const nats = sharedNatsServer();

  test("fake node ids past maxPeers are refused and counted; silent ones are evicted; a replay of an evicted peer stays stale", async (t) => {
    const prefix = "peer-cap";
    const node = await startNode(nats.server.url, "n1", {
      subjectPrefix: prefix,
      maxPeers: 5,
      forgetPeerAfterMs: 0,
    });
    t.after(() => stopAll([node]));
    const subject = syncSubjects(prefix).announce;
    const before = await rejectedCount(node, "too_many_peers");
    for (let i = 0; i < 20; i++) nats.nc.publish(subject, announcement(`fake${i}`, 1_000));
    await nats.nc.flush();
    await waitFor(async () => (await rejectedCount(node, "too_many_peers")) === before + 15, {
      timeoutMs: 5_000,
      message: "15 refusals counted",
    });
    assert.equal(node.syncEngine.peers.size, 5);
    // Silent past the liveness window (3 × 200 ms + 300 ms) and no grace: forgotten.
    await waitFor(() => node.syncEngine.peers.size === 0, {
      timeoutMs: 10_000,
      message: "silent fake peers evicted",
    });
    const stale = await rejectedCount(node, "stale");
    nats.nc.publish(subject, announcement("fake0", 1_000));
    await waitFor(async () => (await rejectedCount(node, "stale")) === stale + 1, {
      timeoutMs: 5_000,
      message: "a replay of an evicted peer is stale",
    });
    assert.equal(node.syncEngine.peers.size, 0);
    nats.nc.publish(subject, announcement("fake0", 2_000));
    await waitFor(() => node.syncEngine.peers.size === 1, {
      timeoutMs: 5_000,
      message: "an evicted peer that speaks again is taken back",
    });
  });
});
