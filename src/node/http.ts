import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { parseListen } from "../core/addresses.js";
import type { LookupQuery } from "../core/lookup.js";
import { queryFromSearch } from "./dashboard-data.js";
import { DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from "./dashboard-page.js";
import type { NodeStatus } from "./status.js";

export interface HttpSources {
  metrics: Registry;
  status: () => NodeStatus;
  /** Up: the process runs and holds a NATS connection. */
  healthy: () => boolean;
  /** Ready: bootstrapped and serving (DESIGN.md §7). */
  ready: () => boolean;
  /** The lifecycle state, named in the readiness probe's body. */
  state: () => string;
  /** The dashboard's data, from the node's replica. */
  dashboard: {
    services(): unknown;
    instances(query: LookupQuery): unknown;
    changes(): unknown;
  };
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
  const url = new URL(req.url ?? "/", "http://node");
  switch (url.pathname) {
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
      json(res, 200, sources.status());
      return;
    case "/api/services":
      json(res, 200, { services: sources.dashboard.services() });
      return;
    case "/api/instances": {
      const query = queryFromSearch(url.searchParams);
      if ("problem" in query) json(res, 400, { error: query.problem });
      else json(res, 200, sources.dashboard.instances(query));
      return;
    }
    case "/api/changes":
      json(res, 200, { changes: sources.dashboard.changes() });
      return;
    case "/":
      asset(res, "text/html; charset=utf-8", DASHBOARD_HTML);
      return;
    case "/dashboard.js":
      asset(res, "text/javascript; charset=utf-8", DASHBOARD_JS);
      return;
    case "/dashboard.css":
      asset(res, "text/css; charset=utf-8", DASHBOARD_CSS);
      return;
    default:
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

function asset(res: ServerResponse, type: string, body: string): void {
  res.writeHead(200, {
    "content-type": type,
    "content-security-policy": DASHBOARD_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
  });
  res.end(body);
}

function probe(res: ServerResponse, ok: boolean, state?: string): void {
  res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
  res.end(ok ? "ok\n" : state === undefined ? "not ready\n" : `not ready: ${state}\n`);
}
