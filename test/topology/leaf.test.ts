import assert from "node:assert/strict";
import { test } from "node:test";
import type { Msg } from "nats";
import { converged, instance } from "../node/fleet.js";
import {
  idsOn,
  registerMany,
  stateBytes,
  withRegionClient,
  withRegionConnection,
  withRegionNodes,
} from "../support/regions.js";
import { Teardown } from "../support/teardown.js";
import { withLeafTopology } from "../support/topology.js";
import { waitFor } from "../support/wait.js";

const PRELOADED = 400;
const CHANGES_PER_SIDE = 5;
const WAIT = { timeoutMs: 20_000 };
const decoder = new TextDecoder();

test("a hub cluster and a leaf server: local answers, convergence, and a leaf link cut healed", {
  timeout: 150_000,
}, async (t) => {
  const cleanup = new Teardown(t);
  const topology = await withLeafTopology(cleanup, { hub: "hub", leaf: "edge" });
  const hubUrls = topology.hub.urls;
  // A node beside each hub server, as docs/topologies.md advises. Given both URLs, the NATS
  // client picks one at random; with neither hub node on the client's server, nats-server 2.9
  // once handed a hub client's lookup to the leaf's node (a CI run of this test).
  const nodes = await withRegionNodes(cleanup, [
    { id: "hub1", servers: [hubUrls[0]!] },
    { id: "hub2", servers: [hubUrls[1]!] },
    { id: "edge1", servers: [topology.leaf.url] },
  ]);
  const [hub1, , edge1] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
  const hubNodes = new Set(["hub1", "hub2"]);
  const hubClient = await withRegionClient(cleanup, hubUrls[1]!);
  const edgeClient = await withRegionClient(cleanup, topology.leaf.url);

  await t.test("the leaf node's region is its server's cluster name", () => {
    assert.deepEqual(
      nodes.map((node) => node.regions.region),
      ["hub", "hub", "edge"],
    );
  });

  await t.test("writes on both sides converge, each answered on its own side", async () => {
    const a = await hubClient.register(instance("api", "hub-a"), { keepAlive: false });
    const b = await edgeClient.register(instance("api", "edge-a"), { keepAlive: false });
    assert.ok(hubNodes.has(a.instance.node), `hub write accepted by ${a.instance.node}`);
    assert.equal(b.instance.node, "edge1");
    await waitFor(() => converged(nodes) && nodes.every((n) => idsOn(n, "api").length === 2), {
      ...WAIT,
      message: "both writes on all three nodes",
    });
    for (let i = 0; i < 10; i++) {
      assert.ok(hubNodes.has((await hubClient.lookupWithRegions("api")).node));
      assert.equal((await edgeClient.lookupWithRegions("api")).node, "edge1");
    }
    assert.deepEqual(
      (await edgeClient.lookup("api", { prefer: "region" })).map((i) => i.id),
      ["edge-a", "hub-a"],
    );
  });

  await t.test("change events cross the leaf link", async () => {
    const edgeConnection = await withRegionConnection(cleanup, topology.leaf.url);
    const raw: string[] = [];
    edgeConnection.subscribe("registry.changes.api", {
      callback: (_err, msg: Msg) => raw.push(decoder.decode(msg.data)),
    });
    await edgeConnection.flush();
    let n = 0;
    await waitFor(
      async () => {
        await hubClient.register(instance("api", `hub-w${n++}`), { keepAlive: false });
        return raw.some((text) => /"node":"hub[12]"/.test(text));
      },
      { ...WAIT, intervalMs: 200, message: "a hub change event received on the leaf" },
    );
  });

  await t.test(
    "a leaf link cut: both sides keep serving, and the heal moves only the changes",
    async () => {
      await registerMany(hubClient, "bulk", "hub", PRELOADED);
      await waitFor(() => converged(nodes) && idsOn(edge1, "bulk").length === PRELOADED, {
        ...WAIT,
        message: "preloaded state on every node",
      });
      const fullBytes = stateBytes(edge1);
      topology.cutLeaf();
      await waitFor(async () => !(await topology.linked()), { ...WAIT, message: "leaf link down" });
      for (let i = 0; i < CHANGES_PER_SIDE; i++) {
        assert.ok(
          hubNodes.has(
            (await hubClient.register(instance("cut", `hub-${i}`), { keepAlive: false })).instance
              .node,
          ),
        );
        assert.equal(
          (await edgeClient.register(instance("cut", `edge-${i}`), { keepAlive: false })).instance
            .node,
          "edge1",
        );
      }
      await waitFor(
        async () => (await edgeClient.lookupWithRegions("cut")).regions.hub?.stale === true,
        { ...WAIT, message: "the leaf node reports the hub stale" },
      );
      assert.deepEqual(
        (await edgeClient.lookup("cut")).map((i) => i.id),
        Array.from({ length: CHANGES_PER_SIDE }, (_, i) => `edge-${i}`),
      );
      topology.healLeaf();
      await topology.waitForLeaf();
      await waitFor(() => converged(nodes) && idsOn(hub1, "cut").length === 2 * CHANGES_PER_SIDE, {
        ...WAIT,
        message: "both sides' writes on every node after the heal",
      });
      const healed = await topology.leafTraffic();
      const crossed = healed.inBytes + healed.outBytes;
      t.diagnostic(
        `heal: ${crossed} bytes (${healed.inMsgs + healed.outMsgs} messages) across the leaf link for ${2 * CHANGES_PER_SIDE} changes; full state ${fullBytes} bytes`,
      );
      assert.ok(
        crossed < fullBytes / 4,
        `the heal moved ${crossed} bytes of a ${fullBytes}-byte state`,
      );
    },
  );
});
