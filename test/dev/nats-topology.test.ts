import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { NatsConnection } from "nats";
import { renderGateway, renderLeafRemote } from "../../src/dev/nats-topology-config.js";
import { withRegionConnection } from "../support/regions.js";
import { withLeafTopology, withSupercluster } from "../support/topology.js";
import { waitFor } from "../support/wait.js";

const TEST_TIMEOUT_MS = 90_000;

/** Whether a message published by `from` on a fresh subject reaches `to` within a short wait. */
async function crosses(from: NatsConnection, to: NatsConnection): Promise<boolean> {
  const subject = `probe.${Math.random().toString(36).slice(2)}`;
  let received = 0;
  const sub = to.subscribe(subject, { callback: () => received++ });
  await to.flush();
  try {
    // Interest crosses a gateway or leaf link asynchronously: publish until it arrives.
    await waitFor(
      async () => {
        from.publish(subject);
        await from.flush();
        return received > 0;
      },
      { timeoutMs: 3_000, intervalMs: 100, message: `a message on ${subject}` },
    );
    return true;
  } catch {
    return false;
  } finally {
    sub.unsubscribe();
  }
}

describe("config blocks", () => {
  test("gateways and leaf remotes render on loopback", () => {
    const gateway = renderGateway({
      name: "eu",
      port: 17001,
      advertise: "127.0.0.1:17002",
      remotes: [{ name: "us", urls: ["nats://127.0.0.1:17003"] }],
    });
    assert.match(gateway, /name: "eu"/);
    assert.match(gateway, /listen: "127\.0\.0\.1:17001"/);
    assert.match(gateway, /advertise: "127\.0\.0\.1:17002"/);
    assert.match(gateway, /\{ name: "us", urls: \["nats:\/\/127\.0\.0\.1:17003"\] \}/);
    assert.match(
      renderLeafRemote({ urls: ["nats-leaf://127.0.0.1:17004"], reconnectSeconds: 1 }),
      /urls: \["nats-leaf:\/\/127\.0\.0\.1:17004"\][\s\S]*reconnect: 1/,
    );
  });
});

describe("a supercluster of two 2-server clusters", { timeout: TEST_TIMEOUT_MS }, () => {
  test("messages cross the gateways, the counters show it, and a cut stops them until healed", async (t) => {
    const sc = await withSupercluster(t);
    assert.deepEqual(sc.names, ["eu", "us"]);
    assert.equal(sc.servers.length, 4);
    const eu = await withRegionConnection(t, sc.cluster("eu").servers[0]!.url);
    const us = await withRegionConnection(t, sc.cluster("us").servers[1]!.url);
    assert.equal(eu.info?.cluster, "eu");
    assert.equal(us.info?.cluster, "us");
    const before = await sc.gatewayTraffic("eu");
    assert.ok(await crosses(eu, us), "eu → us");
    assert.ok(await crosses(us, eu), "us → eu");
    const after = await sc.gatewayTraffic("eu");
    assert.ok(after.outMsgs > before.outMsgs, "eu's gateways counted what they sent");

    sc.cutGateways();
    assert.equal(await crosses(eu, us), false, "nothing crosses a cut gateway");
    sc.healGateways();
    await sc.waitForGateways();
    assert.ok(await crosses(eu, us), "healed");
  });
});

describe("a hub cluster with a leaf server", { timeout: TEST_TIMEOUT_MS }, () => {
  test("messages cross the leaf link both ways, and a cut stops them until healed", async (t) => {
    const topology = await withLeafTopology(t);
    const hub = await withRegionConnection(t, topology.hub.servers[1]!.url);
    const leaf = await withRegionConnection(t, topology.leaf.url);
    assert.equal(hub.info?.cluster, "hub");
    assert.equal(leaf.info?.cluster, "edge");
    assert.ok(await crosses(hub, leaf), "hub → leaf");
    assert.ok(await crosses(leaf, hub), "leaf → hub");
    assert.ok((await topology.leafTraffic()).outMsgs > 0);

    topology.cutLeaf();
    await waitFor(async () => !(await topology.linked()), { message: "the leaf link down" });
    assert.equal(await crosses(leaf, hub), false, "nothing crosses a cut leaf link");
    topology.healLeaf();
    await topology.waitForLeaf();
    assert.ok(await crosses(leaf, hub), "healed");
  });
});
