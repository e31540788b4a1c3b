import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { parseListen } from "../core/addresses.js";
import type { NodeStatus } from "./status.js";
import { renderStatusPage } from "./status-page.js";

export interface HttpSources {
  metrics: Registry;
  status: () => NodeStatus;
  /** Up: the process runs and holds a NATS connection. */
  healthy: () => boolean;
  /** Ready: bootstrapped and serving (DESIGN.md §7). */
  ready: () => boolean;
  /** The lifecycle state, named in the readiness probe's body. */
  state: () => string;
}

/**
 * The node's HTTP side: Prometheus metrics, liveness and readiness probes, the status as JSON
 * and as a small page. Read-only, and meant for a loopback or cluster-internal address.
 */
export async function startHttpServer(
  listen: string,
  sources: HttpSources,
): Promise<{ server: Server; url: string }> {
  const parsed = parseListen(listen);
  if ("problem" in parsed) throw new Error(`httpListen: ${parsed.problem}`);
  const { host, port } = parsed;
  const server = createServer((req, res) => {
    handle(req, res, sources).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`internal error: ${(error as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return { server, url: `http://${address.address}:${address.port}` };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  sources: HttpSources,
): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  const path = (req.url ?? "/").split("?")[0];
  switch (path) {
    case "/metrics":
      res.writeHead(200, { "content-type": sources.metrics.contentType });
      res.end(await sources.metrics.metrics());
      return;
    case "/healthz":
      probe(res, sources.healthy());
      return;
    case "/readyz":
      probe(res, sources.ready(), sources.state());
      return;
    case "/status.json":
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(sources.status()));
      return;
    case "/":
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(renderStatusPage(sources.status()));
      return;
    default:
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }
}

function probe(res: ServerResponse, ok: boolean, state?: string): void {
  res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
  res.end(ok ? "ok\n" : state === undefined ? "not ready\n" : `not ready: ${state}\n`);
}
