import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { connect } from "nats";
import { RegistryClient, RegistryClientError } from "../../src/client/mod.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { instance, startNode, stopAll } from "../node/fleet.js";
import { cleanups } from "../support/cleanups.js";
import { readRawPages } from "../support/pages.js";

const encoder = new TextEncoder();

/** A nats-server, a node and a connection, closed in that order's reverse after the test. */
async function setup(
  t: TestContext,
  nodeSettings: Partial<NodeConfigInput> = {},
  serverConfig?: string,
) {
  const defer = cleanups(t);
  const server = await startNatsServer({ config: serverConfig });
  defer(() => server.stop());
  const node = await startNode(server.url, "b1", nodeSettings);
  defer(() => stopAll([node]));
  const nc = await connect({ servers: server.url });
  defer(() => nc.close());
  return { node, nc };
}

/** Registers `count` instances with at most 256 requests in flight. */
async function registerMany(client: RegistryClient, service: string, count: number, extra = {}) {
  const ids = Array.from({ length: count }, (_, i) => `i${i}`);
  for (let start = 0; start < count; start += 256) {
    await Promise.all(
      ids
        .slice(start, start + 256)
        .map((id) => client.call("register", instance(service, id, extra))),
    );
  }
}

describe("bounded replies on a real node", () => {
  test("a 5,000-instance service: every lookup answered, in pages under max_payload", async (t) => {
    // Bulk registration of one service: no rate quota in the way.
    const { nc } = await setup(t, { maxRegistrationsPerSecondPerService: 0 });
    const client = new RegistryClient(nc, { timeoutMs: 10_000 });
    const big = {
      version: "2.14.1",
      region: "eu-west-1",
      tags: { zone: "eu-west-1a", team: "payments", tier: "backend" },
      endpoints: { grpc: "grpc://10.1.2.3:8443", metrics: "http://10.1.2.3:9090/metrics" },
    };
    await registerMany(client, "big", 5_000, big);
    const maxPayload = nc.info!.max_payload;
    const { pages, bytes, largest } = await readRawPages(nc, "registry.lookup", { service: "big" });
    assert.ok(largest <= maxPayload);
    console.log(
      `5,000 instances: ${pages} pages, ${bytes} bytes, largest ${largest} of max_payload ${maxPayload}`,
    );
    assert.ok(pages > 1);
    const all = await client.lookup("big");
    assert.equal(all.length, 5_000);
    assert.equal(new Set(all.map((i) => i.id)).size, 5_000);
    assert.equal((await client.snapshot("big")).length, 5_000);
  });

  test("oversized instances are refused at registration; large ones still look up and watch", async (t) => {
    const { nc } = await setup(t, {}, "max_payload: 64KB");
    const client = new RegistryClient(nc);
    // The attack of issue 13: ~23 KB instances that made lookups time out for everyone.
    await assert.rejects(
      client.call(
        "register",
        instance("fat", "f0", {
          endpoints: Object.fromEntries(
            Array.from({ length: 12 }, (_, i) => [`e${i}`, `http://h/${"x".repeat(1_900)}`]),
          ),
        }),
      ),
      (error: unknown) =>
        error instanceof RegistryClientError &&
        error.code === "payload_too_large" &&
        /8192/.test(error.message),
    );
    // 60 instances of ~7.5 KB each, 450 KB in all, through a 64 KB max_payload.
    const tags = Object.fromEntries(
      Array.from({ length: 28 }, (_, i) => [`k${i}`, "v".repeat(250)]),
    );
    await registerMany(client, "fat", 60, { tags });
    assert.equal((await client.lookup("fat")).length, 60);
    assert.equal((await client.snapshot("fat")).length, 60);
    // A watch starts from the same paged snapshot: it sees every instance too.
    const watch = await client.watch("fat", () => {}, { resyncIntervalMs: 60_000 });
    try {
      assert.equal(watch.instances().length, 60);
    } finally {
      watch.stop();
    }
  });

  test("quota_exceeded with the micro error headers, counted in the metrics", async (t) => {
    const { nc, node } = await setup(t, { maxInstancesPerService: 2 });
    const client = new RegistryClient(nc);
    await registerMany(client, "api", 2);
    await assert.rejects(
      client.call("register", instance("api", "third")),
      (error: unknown) => error instanceof RegistryClientError && error.code === "quota_exceeded",
    );
    const raw = await nc.request(
      "registry.register.api",
      encoder.encode(JSON.stringify(instance("api", "fourth"))),
    );
    assert.equal(raw.headers?.get("Nats-Service-Error-Code"), "429");
    const counted = (await node.metrics.requests.get()).values.find(
      (v) => v.labels.code === "quota_exceeded",
    );
    assert.equal(counted?.value, 2);
    assert.equal((await client.lookup("api")).length, 2, "nothing was added");
  });

  test("the client refuses a reply holding another service's instance", async (t) => {
    const { nc } = await setup(t);
    // A responder that answers every lookup with an instance of `evil`.
    nc.subscribe("rogue.lookup", {
      callback: (_err, msg) =>
        msg.respond(
          encoder.encode(
            JSON.stringify({ ok: true, instances: [{ ...instance("evil", "e1"), node: "x" }] }),
          ),
        ),
    });
    await assert.rejects(
      new RegistryClient(nc, { prefix: "rogue" }).lookup("api"),
      (error: unknown) => error instanceof RegistryClientError && /evil/.test(error.message),
    );
  });
});
