import { freePort, type NatsServerHandle, startNatsServer } from "../../src/dev/nats-server.js";
import { TcpProxy } from "./tcp-proxy.js";

export interface NatsCluster {
  servers: NatsServerHandle[];
  urls: string[];
  /** Cuts every route between `side` and the other servers (needs `proxiedRoutes`). */
  partition(side: readonly number[]): void;
  heal(): void;
  stop(): Promise<void>;
}

/**
 * A cluster of nats-servers on loopback with a full mesh of routes. With `proxiedRoutes`, the
 * route server i dials to server j goes through its own proxy, so a partition can cut exactly
 * the links that cross it, in both directions.
 */
export async function startCluster(
  size: number,
  options: { proxiedRoutes?: boolean } = {},
): Promise<NatsCluster> {
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const proxies = new Map<string, TcpProxy>();
  if (options.proxiedRoutes) {
    for (let i = 0; i < size; i++) {
      for (let j = 0; j < size; j++)
        if (i !== j) proxies.set(`${i}>${j}`, await TcpProxy.start(routePorts[j]!));
    }
  }
  const routeUrl = (from: number, to: number) =>
    `nats-route://127.0.0.1:${proxies.get(`${from}>${to}`)?.port ?? routePorts[to]}`;
  const servers = await Promise.all(
    routePorts.map((port, i) => {
      const routes = routePorts
        .map((_, j) => j)
        .filter((j) => j !== i)
        .map((j) => `"${routeUrl(i, j)}"`);
      return startNatsServer({
        monitor: true,
        config: `cluster {\n  name: regsync-test\n  listen: "127.0.0.1:${port}"\n  routes: [${routes.join(", ")}]\n}`,
      });
    }),
  );
  await waitForRoutes(servers, size - 1);
  const crossing = (side: readonly number[]) =>
    [...proxies.entries()].filter(([key]) => {
      const [from, to] = key.split(">").map(Number);
      return side.includes(from!) !== side.includes(to!);
    });
  return {
    servers,
    urls: servers.map((s) => s.url),
    partition(side) {
      for (const [, proxy] of crossing(side)) proxy.cut();
    },
    heal() {
      for (const proxy of proxies.values()) proxy.heal();
    },
    async stop() {
      await Promise.allSettled(servers.map((s) => s.stop()));
      await Promise.allSettled([...proxies.values()].map((p) => p.close()));
    },
  };
}

/** Waits until every server reports `expected` routes on its monitoring endpoint. */
export async function waitForRoutes(
  servers: readonly NatsServerHandle[],
  expected: number,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(
      servers.map((s) =>
        fetch(`${s.monitorUrl}/routez`)
          .then((r) => r.json() as Promise<{ num_routes: number }>)
          .then(
            (r) => r.num_routes,
            () => -1,
          ),
      ),
    );
    if (counts.every((c) => c >= expected)) return;
    if (Date.now() > deadline)
      throw new Error(`routes did not form: ${counts.join(", ")} (expected ${expected})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
