import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseNodeConfig } from "../../src/config/load.js";
import { packHlc } from "../../src/core/mod.js";
import { syncSubjects } from "../../src/subjects.js";
import type { EntryTuple } from "../../src/sync/entry-codec.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { startFleet, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { instanceTuple, rejectedCount } from "../support/peer-entries.js";
import { sleep, waitFor } from "../support/wait.js";

const codec = createSyncCodec(parseNodeConfig({ id: "evil", memory: true, httpListen: "" }));

/** A valid instance entry written by "evil" now, with positions overridden. */
function validTuple(id: string, overrides: Partial<Record<number, unknown>> = {}): EntryTuple {
  return instanceTuple("mal", id, { node: "evil" }, overrides);
}

describe("peer entries are validated as client writes are", () => {
  const nats = sharedNatsServer();

  test("each bad entry is rejected whole, counted, and changes nothing", async (t) => {
    const prefix = "bad-entries";
    const [node] = await startFleet(nats.server.url, 1, { subjectPrefix: prefix });
    t.after(() => stopAll([node!]));
    const announce = (entries: unknown[]) =>
      nats.nc.publish(
        syncSubjects(prefix).announce,
        codec.encode(
          {
            type: "announce",
            v: PROTOCOL_VERSION,
            node: "evil",
            epoch: "evil-epoch",
            seq: 1,
            digest: "0".repeat(32),
            count: 1,
            from: 0,
            entries,
            accepts: [],
            at: 1,
          },
          false,
        ).bytes,
      );
    const wall = Date.now();
    const forever = 2 ** 53 - 1 - wall;
    const cases: [string, EntryTuple][] = [
      ["a lease of 2^53 ms", validTuple("a", { 7: forever, 10: wall + forever })],
      ["a lease under a second", validTuple("b", { 7: 10, 10: wall + 10 })],
      [
        "a body that names another service",
        validTuple("c", {
          4: '{"host":"h","port":80,"service":"payments","weight":100,"ttlMs":30000}',
        }),
      ],
      [
        "a body that names another id",
        validTuple("d", { 4: '{"host":"h","port":80,"id":"x","weight":100,"ttlMs":30000}' }),
      ],
      [
        "a body with a port out of range",
        validTuple("e", { 4: '{"host":"h","port":70000,"weight":100,"ttlMs":30000}' }),
      ],
      [
        "a body whose ttlMs differs from the entry's",
        validTuple("f", { 4: '{"host":"h","port":80,"weight":100,"ttlMs":60000}' }),
      ],
      [
        "a body not in canonical form",
        validTuple("g", { 4: '{"port":80,"host":"h","weight":100,"ttlMs":30000}' }),
      ],
      [
        "a body with an unknown field",
        validTuple("h", { 4: '{"host":"h","port":80,"weight":100,"ttlMs":30000,"x":1}' }),
      ],
      [
        "an expiry that disagrees with the version",
        validTuple("i", { 10: wall + 10 * 86_400_000 }),
      ],
      ["a registration after its own version", validTuple("j", { 8: wall + 60_000 })],
      ["a tombstone that holds a lease", validTuple("k", { 4: null, 5: "stopped", 9: 0, 10: 0 })],
    ];
    let expected = await rejectedCount(node!, "invalid");
    for (const [what, tuple] of cases) {
      announce([tuple]);
      expected++;
      await waitFor(async () => (await rejectedCount(node!, "invalid")) === expected, {
        timeoutMs: 5_000,
        message: `${what} rejected`,
      });
      assert.equal(node!.store.size, 0, `${what} changed the replica`);
    }
    assert.equal(node!.syncEngine.peers.get("evil")?.lastSeenMs ?? 0, 0);
    // The same path takes a valid entry: the cases above were refused for what they hold.
    announce([validTuple("ok")]);
    await waitFor(() => node!.store.size === 1, {
      timeoutMs: 5_000,
      message: "valid entry applied",
    });
    await sleep(50);
    assert.equal(await rejectedCount(node!, "invalid"), expected);
  });

  test("a push reply counts what was applied, not what was sent", async (t) => {
    const prefix = "push-count";
    const [node] = await startFleet(nats.server.url, 1, { subjectPrefix: prefix });
    t.after(() => stopAll([node!]));
    // Ten minutes ahead: past maxClockSkewMs, so the entry is refused by the merge.
    const ahead = Date.now() + 600_000;
    const skewed = validTuple("late", {
      2: packHlc(ahead, 0),
      8: ahead,
      9: ahead,
      10: ahead + 30_000,
    });
    const reply = await nats.nc.request(
      syncSubjects(prefix).reconcile(node!.syncEngine.nodeId),
      codec.encode(
        {
          type: "push",
          v: PROTOCOL_VERSION,
          node: "evil",
          nonce: "0123456789abcdef",
          at: packHlc(Date.now(), 0),
          entries: [skewed, validTuple("fine")],
        },
        false,
      ).bytes,
      { timeout: 5_000 },
    );
    const answer = codec.decode(reply.data).message as { type: string; applied: number };
    assert.equal(answer.type, "pushed");
    assert.equal(answer.applied, 1);
    assert.equal(node!.store.size, 1);
  });
});

describe("configuration", () => {
  test("tombstoneTtlMs shorter than the longest lease plus the skew bound is refused", () => {
    assert.throws(
      () => parseNodeConfig({ id: "n", tombstoneTtlMs: 3_600_000 }),
      /tombstoneTtlMs: must be at least the longest lease/,
    );
    assert.throws(() => parseNodeConfig({ id: "n", tombstoneTtlMs: 86_400_000 }), /tombstoneTtlMs/);
    assert.doesNotThrow(() => parseNodeConfig({ id: "n" }));
    assert.doesNotThrow(() =>
      parseNodeConfig({ id: "n", tombstoneTtlMs: 86_400_000 + 1_000, maxClockSkewMs: 1_000 }),
    );
  });
});
