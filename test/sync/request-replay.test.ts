import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Msg } from "nats";
import { createServer } from "nkeys.js";
import { parseNodeConfig } from "../../src/config/load.js";
import { ReconcileSession } from "../../src/core/reconcile/mod.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { syncSubjects } from "../../src/subjects.js";
import type { SyncCodec } from "../../src/sync/codec.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { newNonce, PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { NodeIdentity } from "../../src/wire/identity.js";
import { FAST_SYNC, instance, startNode, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { rejectedCount } from "../support/peer-entries.js";
import { sleep, waitFor } from "../support/wait.js";

const json = new TextEncoder();
const REPLAYS = 10;
/** maxClockSkewMs + pullTimeoutMs (FAST_SYNC's 300 ms): the server's freshness window. */
const SKEW_MS = 1_700;
const WINDOW_MS = SKEW_MS + 300;

function newSeed(): string {
  return new TextDecoder().decode(createServer().getSeed());
}

/** The node's codec, counting the messages it encodes by type (a heads answer is an
 * announcement that echoes a nonce). */
function countingCodec(codec: SyncCodec, counts: Map<string, number>): SyncCodec {
  return {
    authenticates: codec.authenticates,
    decode: (bytes) => codec.decode(bytes),
    encode: (message, compress) => {
      const m = message as { type: string; nonce?: string };
      const kind = m.type === "announce" && m.nonce !== undefined ? "heads-answer" : m.type;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      return codec.encode(message, compress);
    },
  };
}

describe("replayed requests cost O(1)", () => {
  const nats = sharedNatsServer();

  test("captured pull, reconcile, heads and versions requests replayed are refused, counted, and build nothing", async (t) => {
    const prefix = "replay-requests";
    const subjects = syncSubjects(prefix);
    const seeds = { n1: newSeed(), n2: newSeed() };
    const trustedPeers = Object.fromEntries(
      Object.entries(seeds).map(([id, seed]) => [id, NodeIdentity.fromSeed(seed).publicKey]),
    );
    const signed = (id: "n1" | "n2") => ({
      subjectPrefix: prefix,
      nodeSeed: seeds[id],
      trustedPeers,
      maxClockSkewMs: SKEW_MS,
    });
    // n2, the target, holds 50 entries before n1 exists, so n1 bootstraps from it.
    const encoded = new Map<string, number>();
    const config = parseNodeConfig({
      ...FAST_SYNC,
      nats: [nats.server.url],
      id: "n2",
      ...signed("n2"),
    });
    const n2 = new RegistryNode({ config, codec: countingCodec(createSyncCodec(config), encoded) });
    await n2.start();
    t.after(() => stopAll([n2]));
    for (let i = 0; i < 50; i++)
      await nats.nc.request(
        `${prefix}.register`,
        json.encode(JSON.stringify(instance("api", `a${i}`))),
        { timeout: 5_000 },
      );
    // Everything n1 asks n2 is captured on the way.
    const captured = { pull: [] as Uint8Array[], heads: [] as Uint8Array[] };
    const taps = [
      nats.nc.subscribe(subjects.pull("n2"), {
        callback: (_e, msg) => captured.pull.push(Uint8Array.from(msg.data)),
      }),
      nats.nc.subscribe(subjects.heads, {
        callback: (_e, msg) => captured.heads.push(Uint8Array.from(msg.data)),
      }),
    ];
    t.after(() => {
      for (const tap of taps) tap.unsubscribe();
    });
    const n1 = await startNode(nats.server.url, "n1", signed("n1"));
    t.after(() => stopAll([n1]));
    await waitFor(() => n1.store.size === 50 && n1.syncEngine.isConverged(), {
      timeoutMs: 10_000,
      message: "n1 bootstrapped from n2",
    });
    assert.ok(captured.pull.length > 0 && captured.heads.length > 0, "n1's requests captured");
    // A reconciliation request as n1 sends it (signed with its key), answered once by n2.
    const n1Codec = createSyncCodec(
      parseNodeConfig({ id: "n1", memory: true, httpListen: "", ...signed("n1") }),
    );
    const session = new ReconcileSession(n1.store.reconIndex, {
      salt: 7,
      maxMessageBytes: 1 << 20,
      retainKeys: false,
    });
    const recon = n1Codec.encode(
      {
        type: "recon",
        v: PROTOCOL_VERSION,
        node: "n1",
        nonce: newNonce(),
        at: n1.store.clock.now(),
        query: session.start(),
      },
      true,
    ).bytes;
    const first = n1Codec.decode((await nats.nc.request(subjects.reconcile("n2"), recon)).data);
    assert.equal(
      (first.message as { type: string }).type,
      "recon-reply",
      "the original is answered",
    );
    // A versions question as n1 asks it before ending a lapsed lease, answered once by n2.
    const versions = n1Codec.encode(
      {
        type: "versions",
        v: PROTOCOL_VERSION,
        node: "n1",
        keys: [["api", "a0"]],
        nonce: newNonce(),
        at: n1.store.clock.now(),
      },
      false,
    ).bytes;
    const answered = n1Codec.decode((await nats.nc.request(subjects.versions, versions)).data);
    assert.equal((answered.message as { type: string }).type, "versions-answer");

    const replies: Msg[] = [];
    const inbox = nats.nc.subscribe("_INBOX.replays.>", { callback: (_e, m) => replies.push(m) });
    t.after(() => inbox.unsubscribe());
    const replays: [string, Uint8Array][] = [
      [subjects.pull("n2"), captured.pull[0]!],
      [subjects.heads, captured.heads[0]!],
      [subjects.reconcile("n2"), recon],
      [subjects.versions, versions],
    ];
    const replayAll = async () => {
      for (let r = 0; r < REPLAYS; r++)
        for (const [subject, bytes] of replays)
          nats.nc.publish(subject, bytes, { reply: `_INBOX.replays.${r}` });
      await nats.nc.flush();
    };
    const refused = async () =>
      (await rejectedCount(n2, "replayed")) + (await rejectedCount(n2, "stale"));
    const before = {
      encoded: new Map(encoded),
      refused: await refused(),
      stale: await rejectedCount(n2, "stale"),
      replayed: await rejectedCount(n2, "replayed"),
      digest: n2.store.digest(),
      reconciliations: (await n2.metrics.reconciliations.get()).values.reduce(
        (s, v) => s + v.value,
        0,
      ),
    };
    // Within the window: the reconcile and versions requests were answered a moment ago, so
    // they are `replayed`; the pull and heads requests are `replayed` or, on a slow machine,
    // already `stale`.
    await replayAll();
    await waitFor(async () => (await refused()) >= before.refused + 4 * REPLAYS, {
      timeoutMs: 5_000,
      message: "every replay within the window refused",
    });
    assert.ok((await rejectedCount(n2, "replayed")) >= before.replayed + 2 * REPLAYS);
    // Past the window, every one of them is `stale`.
    await sleep(WINDOW_MS + 200);
    const staleBefore = await rejectedCount(n2, "stale");
    await replayAll();
    await waitFor(async () => (await rejectedCount(n2, "stale")) >= staleBefore + 4 * REPLAYS, {
      timeoutMs: 5_000,
      message: "every replay past the window refused as stale",
    });
    await sleep(200);
    assert.equal(await refused(), before.refused + 8 * REPLAYS, "each replay counted once");
    assert.equal(replies.length, 0, "a replay was answered");
    for (const kind of [
      "batch",
      "reset",
      "recon-reply",
      "entries",
      "pushed",
      "heads-answer",
      "versions-answer",
      "error",
    ])
      assert.equal(
        encoded.get(kind) ?? 0,
        before.encoded.get(kind) ?? 0,
        `${kind} built for a replay`,
      );
    assert.deepEqual(n2.store.digest(), before.digest);
    assert.equal(
      (await n2.metrics.reconciliations.get()).values.reduce((s, v) => s + v.value, 0),
      before.reconciliations,
    );
    assert.ok(n1.syncEngine.isConverged() && n2.syncEngine.isConverged());
  });
});
