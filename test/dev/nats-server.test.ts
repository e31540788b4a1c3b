import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { describe, test } from "node:test";
import { connect } from "nats";
import { NatsServerStartError, startNatsServer } from "../../src/dev/nats-server.js";
import { MessageProbe } from "../support/messages.js";
import { withNatsCluster, withNatsServer, withServerConnection } from "../support/nats.js";
import { waitFor } from "../support/wait.js";

/** Every test here must end well within this; the launcher's own waits are shorter. */
const TEST_TIMEOUT_MS = 60_000;

const decoder = new TextDecoder();

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("one nats-server", { timeout: TEST_TIMEOUT_MS }, () => {
  test("starts on a free loopback port, answers a request, and stop() leaves nothing", async () => {
    const server = await startNatsServer();
    const { port, pid, dir } = server;
    try {
      assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(server.clientUrl, server.url);
      assert.notEqual(port, 4222);
      assert.ok(existsSync(server.configPath));
      const nc = await connect({ servers: server.url });
      try {
        nc.subscribe("echo", { callback: (_, msg) => msg.respond(msg.data) });
        const reply = await nc.request("echo", "ping", { timeout: 5_000 });
        assert.equal(decoder.decode(reply.data), "ping");
      } finally {
        await nc.close();
      }
      assert.match(server.logs(), /Server is ready/);
    } finally {
      await server.stop();
    }
    assert.equal(server.running, false);
    assert.equal(isAlive(pid), false, "the process is gone");
    assert.equal(existsSync(dir), false, "the temporary directory is gone");
    assert.equal(await accepts(port), false, "the port is closed");
    await server.stop(); // idempotent
  });

  test("config text sets limits; its listeners are replaced by loopback ones", async (t) => {
    const server = await withNatsServer(t, {
      monitor: true,
      config: 'max_payload: 2KB\nlisten: "0.0.0.0:4222"\nhttp: "0.0.0.0:8222"',
    });
    assert.notEqual(server.port, 4222);
    assert.notEqual(server.monitorPort, 8222);
    const nc = await withServerConnection(t, server.url);
    assert.equal(nc.info?.max_payload, 2048);
    assert.equal(nc.info?.jetstream ?? false, false, "JetStream is off unless asked for");
    const varz = (await (await fetch(`${server.monitorUrl}/varz`)).json()) as {
      host: string;
      http_host: string;
    };
    assert.equal(varz.host, "127.0.0.1");
    assert.equal(varz.http_host, "127.0.0.1");
  });

  test("JetStream on request, stored in the server's temporary directory", async (t) => {
    const server = await withNatsServer(t, { jetstream: true });
    const nc = await withServerConnection(t, server.url);
    assert.equal(nc.info?.jetstream, true);
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: "probe", subjects: ["probe.>"] });
    assert.ok(existsSync(`${server.dir}/jetstream`));
  });

  test("kill() is a crash, restart() comes back on the same port, clients reconnect", async (t) => {
    const server = await withNatsServer(t, { monitor: true });
    const { port, monitorPort } = server;
    const responder = await withServerConnection(t, server.url);
    responder.subscribe("echo", { callback: (_, msg) => msg.respond(msg.data) });
    const requester = await withServerConnection(t, server.url);
    const firstPid = server.pid;
    await server.kill();
    assert.equal(server.running, false);
    assert.equal(isAlive(firstPid), false);
    await server.restart();
    assert.equal(server.port, port);
    assert.equal(server.monitorPort, monitorPort);
    assert.notEqual(server.pid, firstPid);
    await waitFor(
      async () => {
        const reply = await requester.request("echo", "again", { timeout: 500 });
        return decoder.decode(reply.data) === "again";
      },
      { timeoutMs: 10_000, message: "both clients reconnected" },
    );
    assert.match(server.logs(), /restarted by the launcher/);
  });

  test("a server that cannot start reports why, with its log", async (t) => {
    await assert.rejects(
      startNatsServer({ config: "bogus_setting: 1" }),
      (error: unknown) =>
        error instanceof NatsServerStartError &&
        /unknown field "bogus_setting"/.test(error.message) &&
        /exited \(code 1\)/.test(error.message),
    );
    const holder = await withNatsServer(t);
    await assert.rejects(
      startNatsServer({ port: holder.port, startTimeoutMs: 10_000 }),
      (error: unknown) =>
        error instanceof NatsServerStartError && /address already in use/.test(error.message),
    );
    await assert.rejects(
      startNatsServer({ binary: "/nonexistent/nats-server" }),
      (error: unknown) =>
        error instanceof NatsServerStartError &&
        /ENOENT/.test(error.message) &&
        /apt-get install nats-server.*\$NATS_SERVER/.test(error.message),
    );
  });
});

describe("a 3-server cluster", { timeout: TEST_TIMEOUT_MS }, () => {
  test("a message published on server 1 reaches a subscriber on server 3", async (t) => {
    const cluster = await withNatsCluster(t);
    assert.equal(cluster.servers.length, 3);
    assert.equal(cluster.url, cluster.urls.join(","));
    assert.equal(new Set(cluster.servers.map((s) => s.port)).size, 3);
    const probe = await MessageProbe.open(
      await withServerConnection(t, cluster.urls[0]!),
      await withServerConnection(t, cluster.urls[2]!),
      "probe.1to3",
    );
    t.after(() => probe.close());
    await probe.crosses();
  });

  test("a killed server restarts on the same ports and the mesh heals", async (t) => {
    const cluster = await withNatsCluster(t);
    const victim = cluster.servers[1]!;
    const ports = [victim.port, victim.clusterPort];
    await victim.kill();
    assert.equal(await cluster.connected(0, 1), false);
    await cluster.waitForMesh(); // the survivors keep their route
    const survivors = await MessageProbe.open(
      await withServerConnection(t, cluster.urls[0]!),
      await withServerConnection(t, cluster.urls[2]!),
      "probe.survivors",
    );
    t.after(() => survivors.close());
    await survivors.crosses();
    await victim.restart();
    assert.deepEqual([victim.port, victim.clusterPort], ports);
    await cluster.waitForMesh({ among: [0, 1, 2] });
    const back = await MessageProbe.open(
      await withServerConnection(t, cluster.urls[1]!),
      await withServerConnection(t, cluster.urls[2]!),
      "probe.back",
    );
    t.after(() => back.close());
    await back.crosses();
  });
});

describe("partitions through route proxies", { timeout: TEST_TIMEOUT_MS }, () => {
  test("cutting every route that crosses a partition stops messages; healing restores them", async (t) => {
    const cluster = await withNatsCluster(t, { proxiedRoutes: true });
    assert.equal(cluster.proxies.size, 6, "one proxy per ordered pair of servers");
    const [c0, c1, c2] = [
      await withServerConnection(t, cluster.urls[0]!),
      await withServerConnection(t, cluster.urls[1]!),
      await withServerConnection(t, cluster.urls[2]!),
    ] as const;
    const across = await MessageProbe.open(c0, c2, "probe.across");
    const inside = await MessageProbe.open(c1, c2, "probe.inside");
    t.after(() => {
      across.close();
      inside.close();
    });
    await across.crosses();
    await inside.crosses();

    // {0} | {1, 2}: the pairs 0-1 and 0-2 cross the partition, both directions each.
    cluster.partition([0]);
    await waitFor(
      async () => !(await cluster.connected(0, 1)) && !(await cluster.connected(0, 2)),
      { timeoutMs: 10_000, message: "server 0 has lost its routes" },
    );
    assert.equal(await across.isLost(), true, "nothing crosses the partition");
    await inside.crosses(); // the majority side still talks
    await cluster.waitForMesh({ among: [1, 2] });

    cluster.heal();
    await cluster.waitForMesh();
    await across.crosses();
  });

  test("one cut pair partitions those two servers even though both reach the third", async (t) => {
    const cluster = await withNatsCluster(t, { proxiedRoutes: true });
    const [c0, c1, c2] = [
      await withServerConnection(t, cluster.urls[0]!),
      await withServerConnection(t, cluster.urls[1]!),
      await withServerConnection(t, cluster.urls[2]!),
    ] as const;
    const direct = await MessageProbe.open(c0, c2, "probe.direct");
    const viaMiddle = await MessageProbe.open(c0, c1, "probe.middle");
    t.after(() => {
      direct.close();
      viaMiddle.close();
    });
    await direct.crosses();

    cluster.cutLink(0, 2);
    await waitFor(async () => !(await cluster.connected(0, 2)), {
      timeoutMs: 10_000,
      message: "route 0-2 down",
    });
    // A NATS server never forwards a message it got from a route to another route.
    assert.equal(await direct.isLost(), true, "no relaying through server 1");
    await viaMiddle.crosses();

    // A server that accepts a route tells its other peers where the new server is. Let only
    // server 0 dial server 1 (cut 1>0 too), restart 0, and server 1 tells server 2 about it;
    // server 2 must not dial it directly around the cut proxies.
    cluster.proxies.get("1>0")!.cut();
    const logBefore = cluster.servers[2]!.logs().length;
    await cluster.servers[0]!.restart();
    await cluster.waitForMesh({ among: [0, 1] });
    await waitFor(() => /127\.0\.0\.1:1\b/.test(cluster.servers[2]!.logs().slice(logBefore)), {
      timeoutMs: 10_000,
      message: "server 2 told of server 0 and refused at its advertised address",
    });
    assert.equal(await cluster.connected(2, 0), false, "the cut held after the restart");
    assert.equal(await direct.isLost(), true);

    cluster.heal();
    await cluster.waitForMesh();
    await direct.crosses();
  });

  test("a blackholed link is noticed only by the servers' ping timeouts", async (t) => {
    const pings = "ping_interval: 200ms\nping_max: 2";
    const cluster = await withNatsCluster(t, { proxiedRoutes: true, config: pings });
    const probe = await MessageProbe.open(
      await withServerConnection(t, cluster.urls[0]!),
      await withServerConnection(t, cluster.urls[1]!),
      "probe.blackhole",
    );
    t.after(() => probe.close());
    await probe.crosses();
    cluster.partition([0], "blackhole");
    await waitFor(async () => !(await cluster.connected(0, 1)), {
      timeoutMs: 10_000,
      message: "stale route dropped by ping timeout",
    });
    assert.match(cluster.servers[0]!.logs(), /Stale Connection/i);
    cluster.heal();
    await cluster.waitForMesh();
    await probe.crosses();
  });
});
