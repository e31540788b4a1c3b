import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createServer } from "nkeys.js";
import { parseNodeConfig } from "../../src/config/load.js";
import { syncSubjects } from "../../src/subjects.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { NodeIdentity } from "../../src/wire/identity.js";
import { startNode, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { instanceTuple, rejectedCount } from "../support/peer-entries.js";
import { sleep, waitFor } from "../support/wait.js";

function newSeed(): string {
  return new TextDecoder().decode(createServer().getSeed());
}

describe("a trusted key speaks for its own node only", () => {
  const nats = sharedNatsServer();

  test("n3's key signing as n1 is rejected as wrong_signer and changes nothing", async (t) => {
    const prefix = "impersonation";
    const seeds = { n1: newSeed(), n2: newSeed(), n3: newSeed() };
    const trustedPeers = Object.fromEntries(
      Object.entries(seeds).map(([id, seed]) => [id, NodeIdentity.fromSeed(seed).publicKey]),
    );
    const nodes = await Promise.all(
      (["n1", "n2"] as const).map((id) =>
        startNode(nats.server.url, id, {
          subjectPrefix: prefix,
          nodeSeed: seeds[id],
          trustedPeers,
        }),
      ),
    );
    t.after(() => stopAll(nodes));
    const n2 = nodes[1]!;
    await waitFor(() => n2.syncEngine.peers.get("n1")?.epoch === nodes[0]!.store.epoch, {
      timeoutMs: 10_000,
      message: "n2 knows n1",
    });
    const n1Epoch = n2.syncEngine.peers.get("n1")?.epoch;
    // n3, trusted, claims to be n1 with a forged epoch and an entry of n1's.
    const n3 = createSyncCodec(
      parseNodeConfig({ id: "n3", memory: true, httpListen: "", nodeSeed: seeds.n3, trustedPeers }),
    );
    const before = await rejectedCount(n2, "wrong_signer");
    nats.nc.publish(
      syncSubjects(prefix).announce,
      n3.encode(
        {
          type: "announce",
          v: PROTOCOL_VERSION,
          node: "n1",
          epoch: "forged-epoch",
          seq: 1,
          digest: "0".repeat(32),
          count: 1,
          from: 0,
          entries: [instanceTuple("forged", "f1", { node: "n1" })],
          accepts: [],
          at: 1,
        },
        false,
      ).bytes,
    );
    await waitFor(async () => (await rejectedCount(n2, "wrong_signer")) === before + 1, {
      timeoutMs: 5_000,
      message: "impersonation counted as wrong_signer",
    });
    await sleep(100);
    assert.equal(n2.store.get("forged", "f1"), undefined);
    assert.equal(n2.syncEngine.peers.get("n1")?.epoch, n1Epoch);
    // The same message signed by n1's own key is taken, so the refusal was about the signer.
    const n1 = createSyncCodec(
      parseNodeConfig({ id: "n1", memory: true, httpListen: "", nodeSeed: seeds.n1, trustedPeers }),
    );
    const own = n1.encode(
      {
        type: "announce",
        v: PROTOCOL_VERSION,
        node: "n1",
        epoch: n1Epoch!,
        seq: 0,
        digest: "0".repeat(32),
        count: 0,
        accepts: [],
        at: 2,
      },
      false,
    );
    assert.doesNotThrow(() => createSyncCodec(n2Config(seeds.n2, trustedPeers)).decode(own.bytes));
  });

  test("trustedPeers: one node per key; a plain list only where node ids are keys", () => {
    const key = NodeIdentity.fromSeed(newSeed()).publicKey;
    assert.throws(
      () => parseNodeConfig({ id: "n1", trustedPeers: { n1: key, n2: key } }),
      /trustedPeers: each public key must belong to exactly one node id/,
    );
    assert.throws(
      () => parseNodeConfig({ id: "n1", trustedPeers: [key] }),
      /trustedPeers: a list of keys ties no key to a node id/,
    );
    assert.doesNotThrow(() => parseNodeConfig({ id: key, trustedPeers: [key] }));
    const seed = newSeed();
    const mine = NodeIdentity.fromSeed(seed).publicKey;
    assert.throws(
      () => createSyncCodec(n2Config(seed, { n9: mine, n2: key })),
      /gives this node's key to node n9/,
    );
  });

  test("with a plain list, a message must name its signer's key as its node", () => {
    const seeds = [newSeed(), newSeed()];
    const keys = seeds.map((s) => NodeIdentity.fromSeed(s).publicKey);
    const codec = (i: number) =>
      createSyncCodec(
        parseNodeConfig({
          id: keys[i]!,
          memory: true,
          httpListen: "",
          nodeSeed: seeds[i]!,
          trustedPeers: keys,
        }),
      );
    const honest = codec(0).encode({ node: keys[0] }, false).bytes;
    const lying = codec(0).encode({ node: keys[1] }, false).bytes;
    assert.doesNotThrow(() => codec(1).decode(honest));
    assert.throws(
      () => codec(1).decode(lying),
      (e: unknown) => (e as { reason?: string }).reason === "wrong_signer",
    );
  });
});

function n2Config(seed: string, trustedPeers: Record<string, string>) {
  return parseNodeConfig({ id: "n2", memory: true, httpListen: "", nodeSeed: seed, trustedPeers });
}
