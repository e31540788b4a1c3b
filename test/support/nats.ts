import { after, before, type TestContext } from "node:test";
import { connect, type NatsConnection } from "nats";
import type { NatsClusterOptions } from "../../src/dev/nats-cluster.js";
import {
  type NatsServerHandle,
  type NatsServerOptions,
  startNatsServer,
} from "../../src/dev/nats-server.js";
import { startCluster, type TestCluster } from "./cluster.js";
import { TcpProxy, type TcpProxyOptions } from "./tcp-proxy.js";

/**
 * Test fixtures that clean up after themselves: each registers its teardown with `t.after`, so
 * it runs whether the test passes, fails or times out. Use them instead of try/finally.
 */

/**
 * A nats-server and a client connection shared by the tests of the enclosing suite (or file):
 * started before the first test, closed and stopped after the last. Read the fields inside
 * tests and hooks, not when the suite is declared.
 */
export function sharedNatsServer(): {
  readonly server: NatsServerHandle;
  readonly nc: NatsConnection;
} {
  const shared = {} as { server: NatsServerHandle; nc: NatsConnection };
  before(async () => {
    shared.server = await startNatsServer();
    shared.nc = await connect({ servers: shared.server.url });
  });
  after(async () => {
    await shared.nc?.close();
    await shared.server?.stop();
  });
  return shared;
}

/** A nats-server for this test (`startNatsServer`), stopped after it. */
export async function withNatsServer(
  t: TestContext,
  options?: NatsServerOptions,
): Promise<NatsServerHandle> {
  const server = await startNatsServer(options);
  t.after(() => server.stop());
  return server;
}

/** A cluster for this test (`startCluster`), stopped with its proxies after it. */
export async function withNatsCluster(
  t: TestContext,
  options: { size?: number; proxiedRoutes?: boolean } & Omit<
    NatsClusterOptions,
    "size" | "routeVia"
  > = {},
): Promise<TestCluster> {
  const { size = 3, ...rest } = options;
  const cluster = await startCluster(size, rest);
  t.after(() => cluster.stop());
  return cluster;
}

/** A TCP proxy to 127.0.0.1:`targetPort` for this test, closed after it. */
export async function withTcpProxy(
  t: TestContext,
  targetPort: number,
  options?: TcpProxyOptions,
): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(targetPort, options);
  t.after(() => proxy.close());
  return proxy;
}

/**
 * A NATS connection to exactly one server (no discovery of the others, reconnecting to it
 * forever), closed after the test: a client of that server, its cluster or its region.
 */
export async function withServerConnection(
  t: { after(fn: () => unknown): void },
  url: string,
): Promise<NatsConnection> {
  const nc = await connect({
    servers: url,
    noRandomize: true,
    ignoreClusterUpdates: true,
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
  });
  t.after(() => nc.close());
  return nc;
}
