import assert from "node:assert/strict";
import { type TestContext, test } from "node:test";
import type { Msg, NatsConnection } from "nats";
import { RegistryClient, RegistryClientError } from "../../src/client/mod.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { instance, startNode, stopAll } from "../node/fleet.js";
import { cleanups } from "../support/cleanups.js";
import { waitFor } from "../support/wait.js";
import { type Deployment, devDeployment, type Role, templateDeployment } from "./deployments.js";

/**
 * The attacks of issue 13, run as the users of nats.conf and of deploy/nats-cluster.conf: every
 * one is refused by the server (a permissions violation), or dropped and counted by the node,
 * or answered with a clear error; none changes the registry.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connection that records the server's permission violations. */
async function as(defer: Defer, deployment: Deployment, role: Role) {
  const nc = await deployment.connect(role);
  defer(() => nc.close());
  const violations: string[] = [];
  void (async () => {
    for await (const status of nc.status())
      if (status.type === "error") violations.push(String(status.data));
  })();
  /** Runs `action` and waits for the server to refuse it. */
  const denied = async (what: string, action: (nc: NatsConnection) => unknown) => {
    const before = violations.length;
    try {
      action(nc);
    } catch {
      // nats.js may refuse locally too; what counts is that the server refused.
    }
    await nc.flush().catch(() => undefined);
    await waitFor(() => violations.length > before, {
      timeoutMs: 5_000,
      message: `${role}: ${what} refused by the server`,
    });
    assert.match(violations.at(-1)!, /PERMISSIONS_VIOLATION/);
  };
  return { nc, denied };
}

function dropped(nodes: readonly RegistryNode[]): Promise<number> {
  return Promise.all(
    nodes.map(async (n) => {
      const metric = await n.metrics.requestsDropped.get();
      return metric.values.reduce((sum, v) => sum + v.value, 0);
    }),
  ).then((counts) => counts.reduce((a, b) => a + b, 0));
}

type Defer = (cleanup: () => unknown) => void;

async function runAttacks(t: TestContext, defer: Defer, deployment: Deployment): Promise<void> {
  const nodes: RegistryNode[] = [];
  defer(() => stopAll(nodes));
  nodes.push(await startNode(deployment.url, "node-1", deployment.node("node-1")));
  nodes.push(await startNode(deployment.url, "node-2", deployment.node("node-2")));
  const teamA = await as(defer, deployment, "team-a");
  const teamB = await as(defer, deployment, "team-b");
  const operator = await as(defer, deployment, "operator");
  const clientA = new RegistryClient(teamA.nc, { timeoutMs: 3_000 });
  const clientB = new RegistryClient(teamB.nc, { timeoutMs: 3_000 });

  // The fleet works under these permissions: writes on scoped subjects, sync between nodes.
  await clientA.register(instance("payments", "pay-1", { host: "10.0.0.1" }), {
    keepAlive: false,
  });
  await clientB.register(instance("search", "s-1"), { keepAlive: false });
  await waitFor(() => nodes.every((n) => n.store.size === 2), { message: "nodes in sync" });
  const hostOfPay1 = () =>
    nodes.map((n) => JSON.parse(n.store.get("payments", "pay-1")!.body!).host as string);

  await t.test("reflection: replies only go to inboxes", async () => {
    const seen: Msg[] = [];
    const targets = [
      "registry.changes.payments",
      "registry.sync.announce",
      "$SRV.PING",
      "registry.register.payments",
      "registry.sync.node-1.pull",
    ];
    for (const target of targets) {
      operator.nc.subscribe(target, { callback: (_err, msg) => seen.push(msg) });
    }
    await operator.nc.flush();
    const before = await dropped(nodes);
    for (const reply of targets) {
      teamA.nc.publish("registry.lookup", encoder.encode('{"service":"payments"}'), { reply });
    }
    // Every node answers registry.status and the micro service's PING, INFO and STATS.
    const everyNode = ["registry.status", "$SRV.PING", "$SRV.INFO.registry", "$SRV.STATS"];
    for (const subject of everyNode) {
      operator.nc.publish(subject, new Uint8Array(), { reply: "registry.changes.payments" });
    }
    const expected = targets.length + everyNode.length * nodes.length;
    await waitFor(async () => (await dropped(nodes)) - before === expected, {
      message: "every reflection dropped and counted",
    });
    // A round trip through the nodes after the drops: had a reply been sent, it came first.
    await clientA.lookup("payments");
    await operator.nc.flush();
    const replies = seen.filter((m) => decoder.decode(m.data).startsWith('{"ok"'));
    assert.deepEqual(
      replies.map((m) => m.subject),
      [],
      "no node published a reply on a registry subject",
    );
  });

  await t.test("queue-group theft: only nodes may join the group `registry`", async () => {
    for (const attacker of [operator, teamA, teamB]) {
      await attacker.denied("queue subscription on registry.lookup", (nc) =>
        nc.subscribe("registry.lookup", { queue: "registry" }),
      );
      await attacker.denied("queue subscription on >", (nc) =>
        nc.subscribe(">", { queue: "registry" }),
      );
    }
    for (let i = 0; i < 20; i++) {
      const found = await clientA.lookup("payments");
      assert.deepEqual(
        found.map((f) => `${f.service}/${f.id}`),
        ["payments/pay-1"],
      );
    }
  });

  await t.test("cross-team write: team B cannot touch team A's service", async () => {
    await assert.rejects(
      clientB.register(instance("payments", "pay-1", { host: "10.6.6.6" }), { keepAlive: false }),
      (error: unknown) =>
        error instanceof RegistryClientError && /NATS refused the request/.test(error.message),
    );
    await teamB.denied("unscoped register", (nc) =>
      nc.publish(
        "registry.register",
        encoder.encode(JSON.stringify(instance("payments", "pay-1", { host: "10.6.6.6" }))),
      ),
    );
    await teamB.denied("deregister of payments", (nc) =>
      nc.publish(
        "registry.deregister.payments",
        encoder.encode('{"service":"payments","id":"pay-1"}'),
      ),
    );
    // Its own subject with another team's service in the body: a clear error from the node.
    const reply = await teamB.nc.request(
      "registry.register.search",
      encoder.encode(JSON.stringify(instance("payments", "pay-1", { host: "10.6.6.6" }))),
      { timeout: 5_000 },
    );
    assert.equal(JSON.parse(decoder.decode(reply.data)).error.code, "invalid_request");
    assert.deepEqual(hostOfPay1(), ["10.0.0.1", "10.0.0.1"], "team A's instance unchanged");
    // Team A keeps working on its own service.
    await clientA.heartbeat("payments", "pay-1", "running");
    await clientA.register(instance("payments", "pay-2"), { keepAlive: false });
    // Either node may answer the lookup, and the other learns of pay-2 by sync.
    await waitFor(async () => (await clientA.lookup("payments")).length === 2, {
      message: "team A's new instance visible",
    });
  });

  await t.test("inbox and sync snooping is refused", async () => {
    await teamB.denied("subscribe _INBOX.>", (nc) => nc.subscribe("_INBOX.>"));
    await teamB.denied("subscribe to team A's inboxes", (nc) => nc.subscribe("_INBOX.team-a.>"));
    await teamB.denied("subscribe registry.sync.>", (nc) => nc.subscribe("registry.sync.>"));
    await operator.denied("subscribe _INBOX.>", (nc) => nc.subscribe("_INBOX.>"));
    await operator.denied("subscribe a node's inboxes", (nc) => nc.subscribe("_INBOX.node-1.>"));
    const node2 = await as(defer, deployment, "node-2");
    await node2.denied("subscribe another node's sync subjects", (nc) =>
      nc.subscribe("registry.sync.node-1.>"),
    );
    await node2.denied("publish a client write", (nc) =>
      nc.publish("registry.register", encoder.encode("{}")),
    );
    // A node publishes in inboxes only as the reply to a request it received.
    await node2.denied("publish into a team's inbox unasked", (nc) =>
      nc.publish("_INBOX.team-a.forged", encoder.encode('{"ok":true,"instances":[]}')),
    );
  });

  await t.test("the operator reads but never writes", async () => {
    for (const subject of [
      "registry.register",
      "registry.register.payments",
      "registry.sync.announce",
      "registry.changes.payments",
    ]) {
      await operator.denied(`publish ${subject}`, (nc) =>
        nc.publish(subject, encoder.encode("{}")),
      );
    }
    // nats micro ls|info still works: PING from the operator's inbox is answered.
    const ping = await operator.nc.request("$SRV.PING.registry", new Uint8Array(), {
      timeout: 3_000,
    });
    assert.equal(JSON.parse(decoder.decode(ping.data)).name, "registry");
    const services = await new RegistryClient(operator.nc).services();
    assert.deepEqual(
      services.map((s) => s.name),
      ["payments", "search"],
    );
  });
  assert.deepEqual(hostOfPay1(), ["10.0.0.1", "10.0.0.1"]);
}

test("nats.conf holds against the attacks", async (t) => {
  const defer = cleanups(t);
  const deployment = await devDeployment(defer);
  await runAttacks(t, defer, deployment);
  await t.test("the shared dev `service` user reads only its own inboxes", async () => {
    const service = await as(defer, deployment, "service");
    await service.denied("subscribe _INBOX.>", (nc) => nc.subscribe("_INBOX.>"));
    await service.denied("subscribe a team's inboxes", (nc) => nc.subscribe("_INBOX.team-a.>"));
    await service.denied("subscribe registry.sync.>", (nc) => nc.subscribe("registry.sync.>"));
    await service.denied("queue subscription on registry.lookup", (nc) =>
      nc.subscribe("registry.lookup", { queue: "registry" }),
    );
    await service.denied("publish registry.sync.announce", (nc) =>
      nc.publish("registry.sync.announce", encoder.encode("{}")),
    );
  });
});

test("deploy/nats-cluster.conf holds against the attacks", async (t) => {
  const defer = cleanups(t);
  await runAttacks(t, defer, await templateDeployment(defer));
});
