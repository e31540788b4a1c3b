import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RegistryStore } from "../../src/core/mod.js";
import { type ERROR_CODES, RegistryError } from "../../src/errors.js";
import {
  MAX_INSTANCE_BYTES,
  type QuotaSettings,
  WriteAdmission,
} from "../../src/node/admission.js";
import { RegistryApi } from "../../src/node/api.js";

const NO_QUOTAS: QuotaSettings = {
  maxInstancesPerService: 0,
  maxServices: 0,
  maxRegistrationsPerSecondPerService: 0,
};

function setup(quotas: Partial<QuotaSettings> = {}, budget = 1 << 20) {
  let now = 1_764_000_000_000;
  const store = new RegistryStore({
    nodeId: "n1",
    epoch: "e1",
    wallClock: () => now,
    maxClockSkewMs: 30_000,
    tombstoneTtlMs: 60_000,
  });
  const api = new RegistryApi({
    store,
    nodeId: "n1",
    maxRequestBytes: 64 * 1024,
    commit: async () => {},
    onWrite: () => {},
    ready: () => true,
    wallClock: () => now,
    admission: new WriteAdmission({ ...NO_QUOTAS, ...quotas }, store, () => now),
    replyBudget: () => budget,
  });
  const call = async (
    endpoint: Parameters<RegistryApi["handle"]>[0],
    body: unknown,
    scope?: string,
  ) =>
    JSON.parse(await api.handle(endpoint, new TextEncoder().encode(JSON.stringify(body)), scope));
  const fails = async (
    code: keyof typeof ERROR_CODES,
    endpoint: Parameters<RegistryApi["handle"]>[0],
    body: unknown,
    scope?: string,
  ) => {
    const before = store.digest();
    await assert.rejects(call(endpoint, body, scope), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, code, error.message);
      return true;
    });
    assert.deepEqual(store.digest(), before, "a refused request changes nothing");
  };
  return { store, call, fails, advance: (ms: number) => (now += ms) };
}

const inst = (service: string, id: string, extra: Record<string, unknown> = {}) => ({
  service,
  id,
  host: "10.0.0.1",
  port: 80,
  ...extra,
});

describe("write scopes", () => {
  test("a per-service subject takes only its own service", async () => {
    const { call, fails } = setup();
    assert.equal((await call("register", inst("payments", "p1"), "payments")).ok, true);
    await fails("invalid_request", "register", inst("payments", "p2"), "search");
    await fails("invalid_request", "heartbeat", { service: "payments", id: "p1" }, "search");
    await fails("invalid_request", "deregister", { service: "payments", id: "p1" }, "search");
    await fails("invalid_request", "deregister", "not an object", "payments");
    assert.equal((await call("heartbeat", { service: "payments", id: "p1" }, "payments")).ok, true);
    assert.equal(
      (await call("deregister", { service: "payments", id: "p1" }, "payments")).ok,
      true,
    );
  });

  test("host is a host name or an IP literal", async () => {
    const { call, fails } = setup();
    for (const host of ["api.internal", "10.1.2.3", "::1", "fe80::1%eth0", "pod_1.svc."]) {
      assert.equal((await call("register", inst("api", "a1", { host }))).ok, true, host);
    }
    for (const host of ["\u001b[2J", "a b", "evil\r\nhost", "a\u202eb", "-x", "host:80", "[::1]"]) {
      await fails("invalid_request", "register", inst("api", "a2", { host }));
    }
  });
});

describe("bounded instances and quotas", () => {
  test(`an instance rendering over ${MAX_INSTANCE_BYTES} bytes is payload_too_large`, async () => {
    const { call, fails } = setup();
    const tags = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`k${i}`, "v".repeat(250)]),
    );
    await fails("payload_too_large", "register", inst("api", "big", { tags }));
    const fits = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`k${i}`, "v".repeat(250)]),
    );
    assert.equal((await call("register", inst("api", "ok", { tags: fits }))).ok, true);
  });

  test("instances per service: new ones refused at the limit, existing ones still update", async () => {
    const { call, fails, advance } = setup({ maxInstancesPerService: 3 });
    for (const id of ["a", "b", "c"]) await call("register", inst("api", id, { ttlMs: 2_000 }));
    await fails("quota_exceeded", "register", inst("api", "d"));
    assert.equal((await call("register", inst("api", "a", { port: 81 }))).ok, true);
    assert.equal((await call("register", inst("other", "x"))).ok, true);
    // Lapsed leases do not count, though they are held until collected.
    advance(2_500);
    assert.equal((await call("register", inst("api", "d"))).ok, true);
  });

  test("services in the registry", async () => {
    const { call, fails } = setup({ maxServices: 2 });
    await call("register", inst("s1", "a"));
    await call("register", inst("s2", "a"));
    await fails("quota_exceeded", "register", inst("s3", "a"));
    assert.equal((await call("register", inst("s2", "b"))).ok, true, "a known service grows");
    await call("deregister", { service: "s1", id: "a" });
    assert.equal((await call("register", inst("s3", "a"))).ok, true, "room again");
  });

  test("registrations per second per service", async () => {
    const { call, fails, advance } = setup({ maxRegistrationsPerSecondPerService: 5 });
    for (let i = 0; i < 5; i++) await call("register", inst("api", `i${i}`));
    await fails("quota_exceeded", "register", inst("api", "late"));
    assert.equal((await call("register", inst("web", "w"))).ok, true, "other services unaffected");
    assert.equal((await call("heartbeat", { service: "api", id: "i0" })).ok, true, "renewals pass");
    advance(400);
    await call("register", inst("api", "late"));
    await call("register", inst("api", "later"));
    await fails("quota_exceeded", "register", inst("api", "latest"));
  });

  test("a deregister of an instance not held pays the rate; removing a live one is free", async () => {
    const { call, fails, advance } = setup({ maxRegistrationsPerSecondPerService: 3 });
    for (const id of ["a", "b", "c"]) await call("register", inst("api", id));
    // Out of tokens: a tombstone for a key nobody registered is refused, a live one goes.
    await fails("quota_exceeded", "deregister", { service: "api", id: "never" });
    assert.equal((await call("deregister", { service: "api", id: "a" })).ok, true);
    await fails("quota_exceeded", "deregister", { service: "api", id: "a" });
    advance(1_000);
    for (const id of ["g1", "g2", "g3"]) await call("deregister", { service: "api", id });
    await fails("quota_exceeded", "register", inst("api", "d"));
  });
});

describe("paged reads", () => {
  test("lookup, snapshot and services page by limit and by bytes, and never repeat", async () => {
    const { call } = setup({}, 4_096);
    for (let i = 0; i < 50; i++)
      await call("register", inst("api", `i${String(i).padStart(2, "0")}`));
    for (let i = 0; i < 30; i++)
      await call("register", inst(`svc${String(i).padStart(2, "0")}`, "a"));
    for (const [endpoint, field, body] of [
      ["lookup", "instances", { service: "api" }],
      ["snapshot", "entries", { service: "api" }],
      ["services", "services", {}],
    ] as const) {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const reply = await call(endpoint, { ...body, limit: 20, ...(cursor ? { cursor } : {}) });
        assert.ok(JSON.stringify(reply[field]).length <= 4_096);
        assert.ok(reply[field].length <= 20);
        seen.push(...reply[field].map((x: { id?: string; name?: string }) => x.id ?? x.name));
        cursor = reply.nextCursor;
        pages++;
      } while (cursor !== undefined && pages < 100);
      const expected = endpoint === "services" ? 31 : 50;
      assert.equal(seen.length, expected, endpoint);
      assert.equal(new Set(seen).size, expected, `${endpoint}: no item twice`);
      assert.ok(pages >= 2, `${endpoint}: ${pages} pages`);
    }
  });

  test("an item too large for the reply budget is payload_too_large, not a dropped reply", async () => {
    const { call, fails } = setup({}, 300);
    await call("register", inst("api", "a1", { version: "x".repeat(100) }));
    await fails("payload_too_large", "lookup", { service: "api" });
  });
});
