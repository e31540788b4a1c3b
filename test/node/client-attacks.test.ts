import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { connect } from "nats";
import { RegistryClient, RegistryClientError } from "../../src/client/mod.js";
import { parseNodeConfig } from "../../src/config/load.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { statusSubject, syncSubjects } from "../../src/subjects.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { cleanups } from "../support/cleanups.js";
import { readRawPages } from "../support/pages.js";
import { waitFor } from "../support/wait.js";
import { instance, startNode, stopAll } from "./fleet.js";

/**
 * What one client with ordinary credentials tried against a node on a real nats-server (issue
 * 13, points 3 and 6): floods of services, writes past the quotas, hosts that are not hosts,
 * thousands of fake peers. Each is answered with a clear error or a bounded reply, and what the
 * client could not do changes nothing.
 */

const decoder = new TextDecoder();

async function setup(t: TestContext, nodeSettings: Partial<NodeConfigInput> = {}) {
  const defer = cleanups(t);
  const server = await startNatsServer();
  defer(() => server.stop());
  const node = await startNode(server.url, "a1", nodeSettings);
  defer(() => stopAll([node]));
  const nc = await connect({ servers: server.url });
  defer(() => nc.close());
  return { node, nc, client: new RegistryClient(nc, { timeoutMs: 10_000 }) };
}

async function quotaErrors(node: Awaited<ReturnType<typeof setup>>["node"]): Promise<number> {
  const metric = await node.metrics.requests.get();
  return metric.values
    .filter((v) => v.labels.code === "quota_exceeded")
    .reduce((sum, v) => sum + v.value, 0);
}

function rejectsWith(code: string) {
  return (error: unknown) => error instanceof RegistryClientError && error.code === code;
}

describe("a client with ordinary credentials against a node", () => {
  test("30,000 services from one client: `services` answered whole, in pages under max_payload", async (t) => {
    const { nc, client } = await setup(t, { maxServices: 0 });
    const count = 30_000;
    for (let start = 0; start < count; start += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          client.call("register", instance(`svc-${start + i}`, "a")),
        ),
      );
    }
    const maxPayload = nc.info!.max_payload;
    const { pages, bytes, largest } = await readRawPages(nc, "registry.services", {});
    console.log(
      `${count} services: ${pages} pages, ${bytes} bytes, largest ${largest} of max_payload ${maxPayload}`,
    );
    assert.ok(largest <= maxPayload);
    const all = await client.services();
    assert.equal(all.length, count);
    assert.equal(new Set(all.map((s) => s.name)).size, count);
  });

  test("over the services and rate quotas: quota_exceeded, counted, nothing written; a deregister of an unknown instance pays the rate too", async (t) => {
    const { node, client } = await setup(t, {
      maxServices: 3,
      maxRegistrationsPerSecondPerService: 5,
    });
    for (const service of ["s1", "s2", "s3"]) await client.call("register", instance(service, "a"));
    const digest = node.store.digest();
    await assert.rejects(
      client.call("register", instance("s4", "a")),
      rejectsWith("quota_exceeded"),
    );
    assert.deepEqual(node.store.digest(), digest, "the refused service left no trace");
    // s1 has 4 tokens left this second: a burst of 10 registrations gets 4 through.
    const burst = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => client.call("register", instance("s1", `b${i}`))),
    );
    assert.equal(burst.filter((r) => r.status === "fulfilled").length, 4);
    // Tombstones for keys nobody registered cost s2 its rate like registrations do...
    const ghosts = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        client.call("deregister", { service: "s2", id: `g${i}` }),
      ),
    );
    assert.equal(ghosts.filter((r) => r.status === "fulfilled").length, 4);
    assert.equal(node.store.get("s2", "g9"), undefined, "a refused deregister writes nothing");
    // ...while removing a live instance is always allowed, so a service at its limit can shrink.
    await client.call("deregister", { service: "s2", id: "a" });
    const refused = await quotaErrors(node);
    console.log(`quota_exceeded counted: ${refused} (1 service, 6 registrations, 6 deregisters)`);
    assert.equal(refused, 13);
  });

  test("a host that is no host name or IP literal is invalid_request, and nothing is stored", async (t) => {
    const { node, client } = await setup(t);
    for (const host of ["\u001b[2J\u001b[Hfake", "10.0.0.1\r\nevil", "a\u202eb", "-x", "host:80"]) {
      await assert.rejects(
        client.call("register", instance("api", "a1", { host })),
        (error: unknown) =>
          error instanceof RegistryClientError &&
          error.code === "invalid_request" &&
          /host/.test(error.message),
        JSON.stringify(host),
      );
    }
    assert.equal(node.store.size, 0);
  });

  test("8,000 fake peer ids: registry.status still answered under max_payload, its peer list capped", async (t) => {
    const { node, nc } = await setup(t, { maxPeers: 10_000 });
    const codec = createSyncCodec(parseNodeConfig({ id: "fake", memory: true, httpListen: "" }));
    const subject = syncSubjects("registry").announce;
    const fakes = 8_000;
    for (let i = 0; i < fakes; i++) {
      const announce = {
        type: "announce" as const,
        v: PROTOCOL_VERSION,
        node: `fake-${i}-${"x".repeat(40)}`,
        epoch: `epoch-${i}`,
        seq: 0,
        digest: "0".repeat(32),
        count: 0,
        accepts: [],
        at: Date.now(),
      };
      nc.publish(subject, codec.encode(announce, false).bytes);
    }
    await nc.flush();
    await waitFor(() => node.syncEngine.peers.size === fakes, {
      timeoutMs: 20_000,
      message: "every fake peer tracked",
    });
    const reply = await nc.request(statusSubject("registry"), new Uint8Array(), { timeout: 5_000 });
    const status = JSON.parse(decoder.decode(reply.data));
    console.log(
      `${fakes} fake peers: status of ${reply.data.length} bytes, ${status.peers.length} listed, ${status.peersOmitted} omitted`,
    );
    assert.ok(reply.data.length <= nc.info!.max_payload);
    assert.ok(status.peers.length <= 256);
    assert.equal(status.peers.length + status.peersOmitted, fakes);
  });
});
