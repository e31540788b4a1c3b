import assert from "node:assert/strict";
import { test } from "node:test";
import type { Msg } from "nats";
import type { WatchEvent } from "../../src/client/mod.js";
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
import { withSupercluster } from "../support/topology.js";
import { waitFor } from "../support/wait.js";

/** Entries in the registry before the gateways are cut: what a full transfer would move. */
const PRELOADED = 600;
/** Changes made on each side while the gateways are cut. */
const CHANGES_PER_SIDE = 5;
const WAIT = { timeoutMs: 20_000 };
/** Leases renewed through eu every 500 ms: more than selfPreservationMinLeases. */
const KEPT = 12;
/** Leases that outlive the test however slow the machine: only the kept ones may lapse. */
const LONG = { ttlMs: 600_000 };

const decoder = new TextDecoder();

test("a supercluster of two regions: local answers, convergence, and a gateway cut healed", {
  timeout: 150_000,
}, async (t) => {
  const cleanup = new Teardown(t);
  const sc = await withSupercluster(cleanup, ["eu", "us"]);
  const eu = sc.cluster("eu");
  const us = sc.cluster("us");
  // Each node on one server of its region, with the region's other server to fail over to.
  const nodes = await withRegionNodes(
    cleanup,
    [
      { id: "eu1", servers: [eu.urls[0]!, eu.urls[1]!] },
      { id: "eu2", servers: [eu.urls[1]!, eu.urls[0]!] },
      { id: "us1", servers: [us.urls[0]!, us.urls[1]!] },
      { id: "us2", servers: [us.urls[1]!, us.urls[0]!] },
    ],
    {
      // So sensitive that the kept leases lapsing in us would pause its expiry, were they counted.
      selfPreservationThreshold: 0.01,
    },
  );
  const [eu1, eu2, us1, us2] = nodes as [
    (typeof nodes)[0],
    (typeof nodes)[0],
    (typeof nodes)[0],
    (typeof nodes)[0],
  ];
  const euNodes = new Set(["eu1", "eu2"]);
  const usNodes = new Set(["us1", "us2"]);
  const euClient = await withRegionClient(cleanup, eu.urls[0]!);
  const usClient = await withRegionClient(cleanup, us.urls[1]!);

  await t.test("each node takes its region from its server's cluster name", () => {
    assert.deepEqual(
      nodes.map((node) => node.regions.region),
      ["eu", "eu", "us", "us"],
    );
  });

  await t.test("writes in both regions converge on every node", async () => {
    const a = await euClient.register(instance("api", "eu-a", LONG), { keepAlive: false });
    const b = await usClient.register(instance("api", "us-a", LONG), { keepAlive: false });
    assert.ok(euNodes.has(a.instance.node), `eu write accepted by ${a.instance.node}`);
    assert.ok(usNodes.has(b.instance.node), `us write accepted by ${b.instance.node}`);
    await waitFor(() => converged(nodes) && nodes.every((n) => idsOn(n, "api").length === 2), {
      ...WAIT,
      message: "both writes on all four nodes",
    });
  });

  await t.test(
    "a client's requests are answered in its own region (queue groups prefer the local cluster)",
    async () => {
      for (let i = 0; i < 10; i++) {
        const fromEu = await euClient.lookupWithRegions("api");
        const fromUs = await usClient.lookupWithRegions("api");
        assert.ok(euNodes.has(fromEu.node), `eu lookup answered by ${fromEu.node}`);
        assert.equal(fromEu.nodeRegion, "eu");
        assert.ok(usNodes.has(fromUs.node), `us lookup answered by ${fromUs.node}`);
        assert.equal(fromUs.nodeRegion, "us");
      }
    },
  );

  await t.test('prefer: "region" ranks the caller\'s region first, the others after', async () => {
    const fromEu = await euClient.lookup("api", { prefer: "region" });
    assert.deepEqual(
      fromEu.map((i) => i.id),
      ["eu-a", "us-a"],
    );
    const fromUs = await usClient.lookup("api", { prefer: "region" });
    assert.deepEqual(
      fromUs.map((i) => i.id),
      ["us-a", "eu-a"],
    );
    // A caller may name its region: an eu client asking for us first.
    const named = await euClient.lookup("api", { prefer: "region", region: "us" });
    assert.deepEqual(
      named.map((i) => i.id),
      ["us-a", "eu-a"],
    );
  });

  await t.test("change events reach watchers in the other region", async () => {
    const usConnection = await withRegionConnection(cleanup, us.urls[0]!);
    const raw: string[] = [];
    usConnection.subscribe("registry.changes.api", {
      callback: (_err, msg: Msg) => raw.push(decoder.decode(msg.data)),
    });
    await usConnection.flush();
    const events: WatchEvent[] = [];
    const watch = await usClient.watch("api", (event) => events.push(event), {
      resyncIntervalMs: 60_000,
    });
    cleanup.after(() => watch.stop());
    // Interest crosses the gateway asynchronously; a change published before it arrives is
    // dropped there (notifications are best-effort), so write until one arrives.
    let n = 0;
    await waitFor(
      async () => {
        await euClient.register(instance("api", `eu-w${n++}`, LONG), { keepAlive: false });
        return raw.some((text) => /"node":"eu[12]"/.test(text));
      },
      { ...WAIT, intervalMs: 200, message: "an eu change event received in us" },
    );
    await waitFor(() => events.some((e) => !e.synthetic && e.id.startsWith("eu-w")), {
      ...WAIT,
      message: "the us watch saw an eu registration as it happened",
    });
  });

  await t.test(
    "a gateway cut: both sides keep serving, leases of the silent region are held, and the heal moves only the changes",
    async () => {
      await registerMany(euClient, "bulk", "eu", PRELOADED, LONG.ttlMs);
      // A lease renewed through eu every 500 ms: during the cut us hears none of the renewals.
      const keptIds = Array.from({ length: KEPT }, (_, i) => `k${String(i).padStart(2, "0")}`);
      for (const id of keptIds) {
        const kept = await euClient.register(instance("keep", id, { ttlMs: 1_500 }));
        cleanup.after(() => kept.close());
      }
      await waitFor(() => converged(nodes) && idsOn(us1, "bulk").length === PRELOADED, {
        ...WAIT,
        message: "preloaded state on every node",
      });
      const fullBytes = stateBytes(us1);
      const expiredInUs: string[] = [];
      const usWatcher = await withRegionConnection(cleanup, us.urls[0]!);
      usWatcher.subscribe("registry.changes.keep", {
        callback: (_err, msg: Msg) => {
          const text = decoder.decode(msg.data);
          if (text.includes('"type":"expired"')) expiredInUs.push(text);
        },
      });

      sc.cutGateways();
      // Both sides accept writes and answer lookups, each from its own region.
      for (let i = 0; i < CHANGES_PER_SIDE; i++) {
        const a = await euClient.register(instance("cut", `eu-${i}`, LONG), { keepAlive: false });
        const b = await usClient.register(instance("cut", `us-${i}`, LONG), { keepAlive: false });
        assert.ok(euNodes.has(a.instance.node));
        assert.ok(usNodes.has(b.instance.node));
      }
      // us notices eu has gone silent, and says so.
      await waitFor(
        async () => {
          const reply = await usClient.lookupWithRegions("keep");
          return reply.regions.eu?.stale === true && reply.regions.eu.lastHeardMs > 3_000;
        },
        { ...WAIT, message: "us reports eu stale for longer than the lease" },
      );
      // The lease lapsed long ago by us's clock, but renewals flow in eu: us must not expire it.
      const held = await usClient.lookupWithRegions("keep");
      assert.deepEqual(
        held.instances.map((i) => i.id).sort(),
        keptIds,
        "us still shows the eu leases renewed where us cannot see",
      );
      assert.equal(held.regions.us?.stale, false);
      assert.deepEqual(expiredInUs, [], "no expiry published in us for an eu lease");
      for (const node of [us1, us2]) {
        assert.equal(node.regions.heldLeases, KEPT, `${node.id} holds the lapsed eu leases`);
        assert.equal(node.status().selfPreservation, false, `${node.id}: they are not its lapses`);
      }
      assert.deepEqual(
        (await euClient.lookup("cut")).map((i) => i.id),
        Array.from({ length: CHANGES_PER_SIDE }, (_, i) => `eu-${i}`),
        "eu sees its own writes only",
      );

      sc.healGateways();
      await sc.waitForGateways();
      await waitFor(() => converged(nodes) && idsOn(eu2, "cut").length === 2 * CHANGES_PER_SIDE, {
        ...WAIT,
        message: "both sides' writes on every node after the heal",
      });
      // The gateway connections are new since the heal: their counters hold what the heal moved.
      const healed = await sc.gatewayTraffic("us");
      const crossed = healed.inBytes + healed.outBytes;
      t.diagnostic(
        `heal: ${crossed} bytes (${healed.inMsgs + healed.outMsgs} messages) across the gateway for ${2 * CHANGES_PER_SIDE} changes (plus lease renewals); full state ${fullBytes} bytes`,
      );
      assert.ok(
        crossed < fullBytes / 4,
        `the heal moved ${crossed} bytes, not far from the full state of ${fullBytes}`,
      );
      assert.deepEqual(idsOn(eu1, "keep"), keptIds);
      // The renewals that crossed after the heal replaced the held lease: nothing is held now.
      await waitFor(() => us1.regions.heldLeases + us2.regions.heldLeases === 0, {
        ...WAIT,
        message: "held leases released by the renewals after the heal",
      });
      assert.deepEqual(expiredInUs, [], "and no expiry was published in us after the heal either");
    },
  );
});
