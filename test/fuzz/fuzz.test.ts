/**
 * Bad input on every subject: random and mutated messages never crash a node, never change its
 * state, and every request gets an answer. REGSYNC_TEST_FUZZ_RUNS scales the count per subject
 * (default 10,000).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { deflateRawSync } from "node:zlib";
import fc from "fast-check";
import { connect, type NatsConnection } from "nats";
import { parseNodeConfig } from "../../src/config/load.js";
import { ERROR_CODES } from "../../src/contract/errors.js";
import {
  DeregisterRequest,
  HeartbeatRequest,
  LookupRequest,
  SnapshotRequest,
} from "../../src/contract/requests.js";
import { syncSubjects } from "../../src/contract/subjects.js";
import { InstanceSchema } from "../../src/core/mod.js";
import { type NatsServerHandle, startNatsServer } from "../../src/dev/nats-server.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { FORMAT_VERSION } from "../../src/wire/envelope.js";
import { instance, startNode, stopAll } from "../node/fleet.js";
import { waitFor } from "../support/wait.js";

const RUNS = Number(process.env.REGSYNC_TEST_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.REGSYNC_TEST_FUZZ_SEED ?? Date.now() % 1_000_000);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Valid requests with one field broken, unknown keys, wrong types, huge or deep values. */
function mutated(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(valid);
  const weird = fc.oneof(
    fc.constant(null),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 300 }),
    fc.constant("x".repeat(5_000)),
    fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 5 }),
    fc.constant({ a: { b: { c: { d: { e: {} } } } } }),
    fc.boolean(),
  );
  return fc.oneof(
    fc.tuple(fc.constantFrom(...keys), weird).map(([k, v]) => ({ ...valid, [k]: v })),
    fc
      .tuple(fc.string({ minLength: 1, maxLength: 20 }), weird)
      .map(([k, v]) => ({ ...valid, [`x${k}`]: v })),
    fc.constantFrom(...keys).map((k) => {
      const copy = { ...valid };
      delete copy[k];
      return copy;
    }),
  );
}

function payloads(valid: Record<string, unknown>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => encoder.encode(JSON.stringify(v))),
    mutated(valid).map((v) => encoder.encode(JSON.stringify(v))),
    fc
      .uint8Array({ minLength: 1, maxLength: 50 })
      .map((b) => new Uint8Array([0x7b, ...b, 0xff, 0xfe])), // invalid UTF-8
  );
}

/** Sends every payload with bounded concurrency; returns the decoded replies in order. */
async function sendAll(
  nc: NatsConnection,
  subject: string,
  inputs: readonly Uint8Array[],
  decode: (bytes: Uint8Array) => unknown = (bytes) => JSON.parse(decoder.decode(bytes)),
): Promise<unknown[]> {
  const replies: unknown[] = new Array(inputs.length);
  let next = 0;
  const lane = async () => {
    while (next < inputs.length) {
      const i = next++;
      const reply = await nc.request(subject, inputs[i]!, { timeout: 10_000 });
      replies[i] = decode(reply.data);
    }
  };
  await Promise.all(Array.from({ length: 32 }, lane));
  return replies;
}

describe(`bad input (${RUNS} messages per subject, seed ${SEED})`, () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let node: RegistryNode;
  let peer: RegistryNode;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    node = await startNode(server.url, "target", { maxRequestBytes: 4_096 });
    peer = await startNode(server.url, "peer");
    for (let i = 0; i < 5; i++) {
      await nc.request(
        "registry.register",
        encoder.encode(JSON.stringify(instance("seed", `s${i}`, { ttlMs: 600_000 }))),
      );
    }
    await waitFor(() => node.store.digest().digest === peer.store.digest().digest, {
      message: "seeded",
    });
  });
  after(async () => {
    await stopAll([node, peer]);
    await nc?.close();
    await server?.stop();
  });

  const validBodies: Record<
    string,
    { valid: Record<string, unknown>; accepts: (v: unknown) => boolean }
  > = {
    register: {
      valid: { service: "api", id: "a1", host: "h", port: 80 },
      accepts: (v) => InstanceSchema.safeParse(v).success,
    },
    heartbeat: {
      valid: { service: "seed", id: "s1", status: "running" },
      accepts: (v) => HeartbeatRequest.safeParse(v).success,
    },
    deregister: {
      valid: { service: "seed", id: "s1" },
      accepts: (v) => DeregisterRequest.safeParse(v).success,
    },
    lookup: {
      valid: { service: "seed", region: "eu" },
      accepts: (v) => LookupRequest.safeParse(v).success,
    },
    services: {
      valid: { a: 1 },
      accepts: (v) =>
        v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0,
    },
    snapshot: { valid: { service: "seed" }, accepts: (v) => SnapshotRequest.safeParse(v).success },
  };

  for (const [endpoint, { valid, accepts }] of Object.entries(validBodies)) {
    test(`registry.${endpoint}: every bad request answered with an error, state unchanged`, async () => {
      // Twice as many candidates as needed: the valid ones among them are dropped below.
      const candidates = fc.sample(payloads(valid), { numRuns: 2 * RUNS, seed: SEED });
      // Only inputs the contract rejects: parse them as the node would.
      const bad = candidates.filter((bytes) => {
        // `services` takes an empty request as `{}` (as the nats CLI sends it).
        if (endpoint === "services" && bytes.length === 0) return false;
        try {
          const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
          return !accepts(JSON.parse(text));
        } catch {
          return true;
        }
      });
      assert.ok(bad.length >= RUNS, `only ${bad.length} bad inputs generated`);
      const before = node.store.digest();
      const replies = (await sendAll(nc, `registry.${endpoint}`, bad.slice(0, RUNS))) as {
        ok: boolean;
        error?: { code: string };
      }[];
      for (const reply of replies) {
        assert.equal(reply.ok, false, JSON.stringify(reply));
        assert.ok(reply.error && reply.error.code in ERROR_CODES, JSON.stringify(reply));
      }
      assert.deepEqual(node.store.digest(), before, "rejected input changed the replica");
    });
  }

  test("sync subjects: random, mutated and hostile frames are rejected and change nothing", async () => {
    const subjects = syncSubjects("registry");
    const config = parseNodeConfig({ id: "mallory", memory: true, compressionThreshold: 64 });
    const codec = createSyncCodec(config);
    const rejectedBefore = (await node.metrics.batchesRejected.get()).values.reduce(
      (s, v) => s + v.value,
      0,
    );
    const before = node.store.digest();
    const badTuple = fc.oneof(
      fc.anything({ maxDepth: 2 }),
      fc.tuple(
        fc.constant("svc"),
        fc.constant("id"),
        fc.constant(-1),
        fc.constant("mallory"),
        fc.constant("not json"),
        fc.constant("running"),
      ),
      fc.tuple(
        fc.constant("a.b"),
        fc.string(),
        fc.nat(),
        fc.string(),
        fc.constant(null),
        fc.string(),
      ),
    );
    const messages = fc.oneof(
      fc.record({
        type: fc.constant("announce"),
        v: fc.constant(PROTOCOL_VERSION),
        node: fc.constant("mallory"),
        epoch: fc.constant("e"),
        seq: fc.nat(),
        digest: fc.constant("0".repeat(32)),
        count: fc.nat(),
        from: fc.constant(0),
        entries: fc.array(badTuple, { minLength: 1, maxLength: 3 }),
      }),
      fc.record({
        type: fc.constant("announce"),
        v: fc.integer({ min: 2, max: 9 }),
        node: fc.constant("mallory"),
        epoch: fc.constant("e"),
        seq: fc.nat(),
        digest: fc.string(),
        count: fc.integer(),
      }),
      fc.dictionary(fc.string(), fc.anything({ maxDepth: 2 })),
    );
    const frames: Uint8Array[] = [
      ...fc.sample(fc.uint8Array({ maxLength: 300 }), { numRuns: RUNS / 2, seed: SEED }),
      ...fc
        .sample(messages, { numRuns: RUNS / 2, seed: SEED })
        .map((m) => codec.encode(m as object, true).bytes),
    ];
    // A decompression bomb, a frame from a newer format, and a truncated one.
    const bomb = deflateRawSync(Buffer.alloc(100 << 20));
    const bombFrame = new Uint8Array(12 + bomb.length);
    bombFrame.set([0x52, 0x53, FORMAT_VERSION, 1]);
    new DataView(bombFrame.buffer).setUint32(4, 1_000);
    bombFrame.set(bomb, 12);
    const newer = Uint8Array.from(frames[frames.length - 1]!);
    newer[2] = FORMAT_VERSION + 1;
    frames.push(bombFrame, newer, newer.subarray(0, 7));
    for (const frame of frames) nc.publish(subjects.announce, frame);
    await nc.flush();
    // Pull and reconcile requests: every one answered with an error reply.
    const requests = frames.slice(0, RUNS);
    for (const subject of [subjects.pull("target"), subjects.reconcile("target")]) {
      const replies = await sendAll(nc, subject, requests, (bytes) => codec.decode(bytes).message);
      for (const reply of replies) assert.equal((reply as { type: string }).type, "error", subject);
    }
    await waitFor(
      async () => {
        const rejected = (await node.metrics.batchesRejected.get()).values.reduce(
          (s, v) => s + v.value,
          0,
        );
        return rejected - rejectedBefore >= 3 * RUNS;
      },
      { timeoutMs: 20_000, message: "rejections counted" },
    );
    assert.deepEqual(node.store.digest(), before, "rejected sync input changed the replica");
    // Still serving and still syncing.
    await nc.request("registry.register", encoder.encode(JSON.stringify(instance("after", "a1"))));
    await waitFor(
      () =>
        node.store.get("after", "a1") !== undefined && peer.store.get("after", "a1") !== undefined,
      {
        message: "the fleet still syncs",
      },
    );
  });
});
