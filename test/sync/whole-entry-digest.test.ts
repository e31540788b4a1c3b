import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseNodeConfig } from "../../src/config/load.js";
import { type EntryRecord, packHlc, RegistryStore } from "../../src/core/mod.js";
import { syncSubjects } from "../../src/subjects.js";
import { toTuple } from "../../src/sync/entry-codec.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import {
  AnnounceSchema,
  InvalidMessageError,
  PROTOCOL_VERSION,
  parseMessage,
} from "../../src/sync/messages.js";
import { converged, startFleet, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { instanceRecord } from "../support/peer-entries.js";
import { waitFor } from "../support/wait.js";

const codec = createSyncCodec(parseNodeConfig({ id: "evil", memory: true, httpListen: "" }));
const WALL = Date.now();

/** One version of `mal/x` by node "evil", with the given host. */
function version(host: string): EntryRecord {
  return instanceRecord("mal", "x", { node: "evil", host, wall: WALL });
}

function store(id: string): RegistryStore {
  return new RegistryStore({
    nodeId: id,
    epoch: id,
    wallClock: () => WALL,
    maxClockSkewMs: 30_000,
    tombstoneTtlMs: 90_000_000,
  });
}

describe("equal digests mean equal states", () => {
  const nats = sharedNatsServer();

  test("one version with two bodies: the digests differ, and either merge order keeps the same body", () => {
    const a = store("a");
    const b = store("b");
    a.merge([version("10.0.0.1")]);
    b.merge([version("10.0.0.2")]);
    assert.notEqual(a.digest().digest, b.digest().digest);
    a.merge([version("10.0.0.2")]);
    b.merge([version("10.0.0.1")]);
    assert.equal(a.digest().digest, b.digest().digest);
    assert.equal(a.get("mal", "x")?.body, b.get("mal", "x")?.body);
    // Idempotent: the loser arriving again changes nothing.
    const before = a.digest().digest;
    a.merge([version("10.0.0.1"), version("10.0.0.2")]);
    assert.equal(a.digest().digest, before);
  });

  test("two nodes given one version with different bodies reconcile to the same body", async (t) => {
    const prefix = "same-version";
    const nodes = await startFleet(nats.server.url, 2, { subjectPrefix: prefix });
    t.after(() => stopAll(nodes));
    const subjects = syncSubjects(prefix);
    const nc = nats.nc;
    for (const [node, host] of [
      [nodes[0]!, "10.0.0.1"],
      [nodes[1]!, "10.0.0.2"],
    ] as const) {
      const reply = await nc.request(
        subjects.reconcile(node.syncEngine.nodeId),
        codec.encode(
          {
            type: "push",
            v: PROTOCOL_VERSION,
            node: "evil",
            nonce: "0123456789abcdef",
            at: packHlc(Date.now(), 0),
            entries: [toTuple(version(host))],
          },
          false,
        ).bytes,
        { timeout: 5_000 },
      );
      assert.equal((codec.decode(reply.data).message as { applied: number }).applied, 1);
    }
    const bodies = () => nodes.map((n) => n.store.get("mal", "x")?.body);
    assert.notEqual(bodies()[0], bodies()[1]);
    const agreed = () =>
      converged(nodes) &&
      bodies()[0] === bodies()[1] &&
      nodes.every((n) => n.syncEngine.isConverged());
    await waitFor(agreed, {
      timeoutMs: 15_000,
      message: "both nodes keep the same body",
    });
  });

  test("a message of protocol v1 is refused by name", () => {
    assert.throws(
      () =>
        parseMessage(AnnounceSchema, {
          type: "announce",
          v: 1,
          node: "old",
          epoch: "e",
          seq: 0,
          digest: "0".repeat(32),
          count: 0,
          at: 1,
        }),
      (e: unknown) =>
        e instanceof InvalidMessageError &&
        /node old speaks sync protocol v1.*upgrade/.test(e.message),
    );
  });
});
