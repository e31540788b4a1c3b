import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, headers, type NatsConnection } from "nats";
import { RegistryClient, RegistryClientError, type WatchEvent } from "../../src/client/mod.js";
import { type NatsServerHandle, startNatsServer } from "../../src/dev/nats-server.js";
import { CHANGE_HEADERS } from "../../src/node/changes.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { instance, startNode, stopAll } from "../node/fleet.js";
import { waitFor } from "../support/wait.js";

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<RegistryClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RegistryClientError, String(error));
    assert.equal(error.code, code);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("client against a real node", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let node: RegistryNode;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    node = await startNode(server.url, "c1", { subjectPrefix: "cli", maxRequestBytes: 1_024 });
  });
  after(async () => {
    await stopAll([node]);
    await nc?.close();
    await server?.stop();
  });

  test("register, lookup, heartbeat, services, deregister", async () => {
    const client = new RegistryClient(nc, { prefix: "cli" });
    const registration = await client.register(instance("api", "a1", { region: "eu" }), {
      keepAlive: false,
    });
    assert.equal(registration.instance.node, "c1");
    assert.deepEqual(
      (await client.lookup("api", { region: "eu" })).map((i) => i.id),
      ["a1"],
    );
    const { expiresAt } = await client.heartbeat("api", "a1", "running");
    assert.ok(expiresAt > Date.now());
    assert.deepEqual(await client.services(), [{ name: "api", instances: 1, healthy: 1 }]);
    await client.deregister("api", "a1");
    assert.deepEqual(await client.lookup("api"), []);
  });

  test("every error code of the contract, with the micro error headers", async () => {
    const client = new RegistryClient(nc, { prefix: "cli" });
    const invalid = await rejectsWith(
      client.call("register", { service: "a.b", id: "x", host: "h", port: 0 }),
      "invalid_request",
    );
    assert.deepEqual(invalid.issues.map((i) => i.path).sort(), ["port", "service"]);
    await rejectsWith(client.heartbeat("api", "nobody"), "not_found");
    await rejectsWith(
      client.call("register", { ...instance("api", "big"), tags: { blob: "x".repeat(2_000) } }),
      "payload_too_large",
    );
    await rejectsWith(
      new RegistryClient(nc, { prefix: "nobody-serves-this", timeoutMs: 500 }).services(),
      "unavailable",
    );
    const raw = await nc.request(
      "cli.heartbeat",
      new TextEncoder().encode('{"service":"api","id":"nobody"}'),
    );
    assert.equal(raw.headers?.get("Nats-Service-Error-Code"), "404");
    assert.match(raw.headers?.get("Nats-Service-Error") ?? "", /no live instance/);
    assert.equal(JSON.parse(new TextDecoder().decode(raw.data)).error.code, "not_found");
  });

  test("a watch starts from a snapshot, follows changes, and repairs a gap", async () => {
    const client = new RegistryClient(nc, { prefix: "cli" });
    await client.register(instance("web", "w1"), { keepAlive: false });
    const events: WatchEvent[] = [];
    const watch = await client.watch("web", (e) => events.push(e), { resyncIntervalMs: 60_000 });
    try {
      assert.deepEqual(
        events.map((e) => [e.type, e.id, e.synthetic]),
        [["registered", "w1", true]],
      );
      await client.register(instance("web", "w2"), { keepAlive: false });
      await waitFor(() => events.some((e) => e.id === "w2"), { message: "change delivered" });
      // A notification numbered far ahead tells the watch it missed some: it resynchronises.
      await client.deregister("web", "w1");
      await waitFor(() => events.some((e) => e.id === "w1" && e.type === "deregistered"));
      const h = headers();
      h.set(CHANGE_HEADERS.node, "c1");
      h.set(CHANGE_HEADERS.epoch, node.store.epoch);
      h.set(CHANGE_HEADERS.seq, "999999");
      const w3 = await client.call<{ instance: unknown }>("register", instance("web", "w3"));
      assert.ok(w3.instance);
      nc.publish(
        "cli.changes.web",
        new TextEncoder().encode(
          '{"type":"updated","service":"web","id":"w2","instance":null,"node":"c1","version":0}',
        ),
        { headers: h },
      );
      await waitFor(() => watch.resyncs >= 2, { message: "resynchronised after the gap" });
      await waitFor(
        () =>
          watch
            .instances()
            .map((i) => i.id)
            .sort()
            .join() === "w2,w3",
        { message: "view equals the registry" },
      );
      assert.deepEqual(
        watch
          .instances()
          .map((i) => i.id)
          .sort(),
        (await client.lookup("web")).map((i) => i.id).sort(),
      );
    } finally {
      watch.stop();
    }
  });

  test("connect() takes no stack trace per request, and a call nobody answers still fails as unavailable", async () => {
    const client = await RegistryClient.connect({
      servers: [server.url],
      prefix: "silent",
      timeoutMs: 300,
    });
    // A subscriber that never answers: the request waits out its timeout.
    const sink = nc.subscribe("silent.services");
    try {
      await nc.flush();
      assert.equal(
        (client.nc as unknown as { options: { noAsyncTraces?: boolean } }).options.noAsyncTraces,
        true,
      );
      const error = await rejectsWith(client.services(), "unavailable");
      assert.match(error.message, /no registry node answered in time/);
    } finally {
      sink.unsubscribe();
      await client.close();
    }
  });

  test("a kept-alive registration survives a node restart that lost it", async () => {
    const prefix = "keep";
    let first = await startNode(server.url, "k1", { subjectPrefix: prefix });
    const client = new RegistryClient(nc, { prefix, timeoutMs: 1_000 });
    const registration = await client.register(instance("db", "d1", { ttlMs: 1_500 }));
    let reregistered = 0;
    registration.on("reregistered", () => reregistered++);
    try {
      await first.stop();
      first = await startNode(server.url, "k1", { subjectPrefix: prefix });
      await waitFor(async () => (await client.lookup("db").catch(() => [])).length === 1, {
        timeoutMs: 5_000,
        message: "the instance is registered again on the new node",
      });
      assert.ok(reregistered >= 1);
      await registration.close();
      assert.deepEqual(await client.lookup("db"), []);
    } finally {
      await stopAll([first]);
    }
  });
});
