import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ERROR_CODES, RegistryError } from "../../src/contract/errors.js";
import { type ChangeEvent, entryKey, RegistryStore } from "../../src/core/mod.js";
import { RegistryApi } from "../../src/node/api.js";

function setup(options: { ready?: boolean; commit?: () => Promise<void> } = {}) {
  let now = 1_764_000_000_000;
  const store = new RegistryStore({
    nodeId: "n1",
    epoch: "e1",
    wallClock: () => now,
    maxClockSkewMs: 30_000,
    tombstoneTtlMs: 60_000,
  });
  const events: (ChangeEvent | undefined)[] = [];
  const committed: string[] = [];
  const api = new RegistryApi({
    store,
    nodeId: "n1",
    maxRequestBytes: 4_096,
    commit:
      options.commit ??
      (async (entries) => void committed.push(...entries.map((e) => entryKey(e.service, e.id)))),
    onWrite: (event) => events.push(event),
    ready: () => options.ready ?? true,
    wallClock: () => now,
  });
  const call = async (endpoint: Parameters<RegistryApi["handle"]>[0], body: unknown) =>
    JSON.parse(
      await api.handle(
        endpoint,
        new TextEncoder().encode(typeof body === "string" ? body : JSON.stringify(body)),
      ),
    );
  const advance = (ms: number) => {
    now += ms;
  };
  return { api, store, events, committed, call, advance };
}

async function rejects(
  promise: Promise<unknown>,
  code: keyof typeof ERROR_CODES,
): Promise<RegistryError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RegistryError, `expected RegistryError, got ${error}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("client API", () => {
  test("register replies with the instance, lease times and the accepting node", async () => {
    const { call, events, committed } = setup();
    const reply = await call("register", {
      service: "api",
      id: "a1",
      host: "10.0.0.1",
      port: 80,
      tags: { zone: "z" },
    });
    assert.equal(reply.ok, true);
    assert.equal(reply.node, "n1");
    assert.deepEqual(Object.keys(reply.instance).sort(), [
      "expiresAt",
      "host",
      "id",
      "lastHeartbeat",
      "node",
      "port",
      "registeredAt",
      "service",
      "status",
      "tags",
      "ttlMs",
      "weight",
    ]);
    assert.equal(reply.instance.status, "starting");
    assert.equal(reply.instance.expiresAt - reply.instance.lastHeartbeat, 30_000);
    assert.deepEqual(committed, ["api/a1"]);
    assert.equal(events[0]?.type, "registered");
  });

  test("invalid requests name the fields and change nothing", async () => {
    const { api, call, store } = setup();
    const error = await rejects(
      call("register", { service: "a.b", id: "x", host: "h", port: 0 }),
      "invalid_request",
    );
    assert.deepEqual(error.issues?.map((i) => i.path).sort(), ["port", "service"]);
    await rejects(call("register", "{not json"), "invalid_request");
    await rejects(api.handle("register", new Uint8Array(0)), "invalid_request");
    await rejects(call("lookup", { service: "api", colour: "red" }), "invalid_request");
    assert.equal(store.size, 0);
  });

  test("payload_too_large before parsing", async () => {
    const { api, store } = setup();
    await rejects(api.handle("register", new Uint8Array(5_000)), "payload_too_large");
    assert.equal(store.size, 0);
  });

  test("unavailable while the node is not ready", async () => {
    const { call } = setup({ ready: false });
    await rejects(call("lookup", { service: "api" }), "unavailable");
  });

  test("heartbeat renews, changes status, and answers not_found once the lease passed", async () => {
    const { call, advance, events } = setup();
    await call("register", { service: "api", id: "a1", host: "h", port: 1, ttlMs: 5_000 });
    advance(4_000);
    const renewed = await call("heartbeat", { service: "api", id: "a1" });
    assert.equal(renewed.ok, true);
    assert.equal(events.at(-1), undefined, "a plain renewal is not a change");
    await call("heartbeat", { service: "api", id: "a1", status: "running" });
    assert.equal(events.at(-1)?.type, "updated");
    advance(5_001);
    await rejects(call("heartbeat", { service: "api", id: "a1" }), "not_found");
    await rejects(call("heartbeat", { service: "api", id: "never" }), "not_found");
  });

  test("lookup filters and hides expired leases; services counts live and healthy", async () => {
    const { call, advance } = setup();
    await call("register", {
      service: "api",
      id: "a1",
      host: "h",
      port: 1,
      status: "running",
      region: "eu",
      ttlMs: 10_000,
    });
    await call("register", {
      service: "api",
      id: "a2",
      host: "h",
      port: 2,
      status: "running",
      region: "us",
      ttlMs: 2_000,
    });
    await call("register", { service: "db", id: "d1", host: "h", port: 3 });
    assert.equal((await call("lookup", { service: "api" })).instances.length, 2);
    assert.deepEqual(
      (await call("lookup", { service: "api", region: "eu" })).instances.map(
        (i: { id: string }) => i.id,
      ),
      ["a1"],
    );
    advance(2_000);
    assert.deepEqual(
      (await call("lookup", { service: "api" })).instances.map((i: { id: string }) => i.id),
      ["a1"],
    );
    assert.deepEqual((await call("services", {})).services, [
      { name: "api", instances: 1, healthy: 1 },
      { name: "db", instances: 1, healthy: 0 },
    ]);
  });

  test("deregister writes a tombstone and is idempotent", async () => {
    const { call, events, store } = setup();
    await call("register", { service: "api", id: "a1", host: "h", port: 1 });
    const first = await call("deregister", { service: "api", id: "a1" });
    assert.equal(first.ok, true);
    assert.match(first.token, /^n1:[0-9a-f]+:\d+$/, "a write's reply carries a causal token");
    assert.equal(events.at(-1)?.type, "deregistered");
    assert.equal((await call("deregister", { service: "api", id: "a1" })).ok, true);
    assert.equal(store.get("api", "a1")?.body, null);
    assert.equal((await call("lookup", { service: "api" })).instances.length, 0);
  });

  test("a write whose commit fails is not acknowledged", async () => {
    const { call } = setup({ commit: async () => Promise.reject(new Error("disk full")) });
    await assert.rejects(
      call("register", { service: "api", id: "a1", host: "h", port: 1 }),
      /disk full/,
    );
  });

  test("snapshot carries each live instance with its version", async () => {
    const { call } = setup();
    const reg = await call("register", { service: "api", id: "a1", host: "h", port: 1 });
    const snap = await call("snapshot", { service: "api" });
    assert.equal(snap.entries.length, 1);
    assert.equal(snap.entries[0].id, "a1");
    assert.equal(typeof snap.entries[0].version, "number");
    assert.deepEqual(snap.entries[0].instance, reg.instance);
  });

  test("every error code has a distinct micro status", () => {
    const statuses = Object.values(ERROR_CODES).map((c) => c.status);
    assert.equal(new Set(statuses).size, statuses.length);
    assert.deepEqual(Object.keys(ERROR_CODES), [
      "invalid_request",
      "not_found",
      "payload_too_large",
      "quota_exceeded",
      "unavailable",
      "internal",
    ]);
  });
});
