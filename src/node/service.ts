import type { NatsConnection, ServiceMsg } from "nats";
import type { Logger } from "pino";
import { RegistryError } from "../errors.js";
import { CLIENT_ENDPOINTS, CLIENT_QUEUE, SERVICE_NAME } from "../subjects.js";
import { VERSION } from "../version.js";
import { utf8 } from "../wire/utf8.js";
import type { RegistryApi } from "./api.js";
import type { NodeState } from "./lifecycle.js";
import type { NodeMetrics } from "./metrics.js";
import { RequestPacer } from "./request-pacer.js";

export interface ClientService {
  /** Joins the queue group: from now on this node takes its share of client requests. */
  serve(): void;
  /** Shows the node's lifecycle state in the service's metadata (`nats micro info registry`). */
  setState(state: NodeState): void;
  /** Stops taking requests, then waits until every request taken has been answered. */
  stop(): Promise<void>;
}

/**
 * Serves the client API as the NATS micro service `registry` (DESIGN.md §2): every node in the
 * queue group `registry`, with its id in the metadata, so `nats micro ls|info|stats` see each node.
 * The service is visible (ping, info, stats, with the node's state) from the start, but its
 * endpoints join the queue group only on `serve()`, once the node holds what its peers hold:
 * a node that is not ready never takes a client's request. Requests run in arrival order
 * through a RequestPacer.
 */
export async function startClientService(
  nc: NatsConnection,
  options: { prefix: string; nodeId: string; api: RegistryApi; metrics: NodeMetrics; log: Logger },
): Promise<ClientService> {
  const pacer = new RequestPacer((error) =>
    options.log.error({ err: error }, "request handler failed"),
  );
  // nats.js keeps this object and reads it for every INFO and PING reply.
  const metadata: Record<string, string> = { node: options.nodeId, state: "starting" };
  const service = await nc.services.add({
    name: SERVICE_NAME,
    version: VERSION,
    description: "regsync service registry",
    metadata,
    queue: CLIENT_QUEUE,
  });
  let serving = false;
  return {
    serve() {
      if (serving || service.isStopped) return;
      serving = true;
      const group = service.addGroup(options.prefix);
      for (const endpoint of CLIENT_ENDPOINTS) {
        group.addEndpoint(endpoint, {
          handler: (err, msg) => {
            if (err) {
              options.log.error({ err, endpoint }, "service endpoint failed");
              return;
            }
            pacer.submit(() => serve(endpoint, msg, options));
          },
          metadata: { contract: endpoint === "snapshot" ? "regsync" : "DESIGN.md §2" },
        });
      }
    },
    setState(state) {
      metadata.state = state;
    },
    async stop() {
      await service.stop();
      await pacer.idle();
    },
  };
}

async function serve(
  endpoint: (typeof CLIENT_ENDPOINTS)[number],
  msg: ServiceMsg,
  { api, metrics, log }: { api: RegistryApi; metrics: NodeMetrics; log: Logger },
): Promise<void> {
  let reply: string;
  try {
    reply = await api.handle(endpoint, msg.data);
  } catch (error) {
    const failure =
      error instanceof RegistryError
        ? error
        : new RegistryError("internal", "internal error", undefined, { cause: error });
    if (failure.code === "internal") log.error({ err: error, endpoint }, "request failed");
    metrics.requests.inc({ endpoint, code: failure.code });
    answer(log, () =>
      msg.respondError(failure.status, headerSafe(failure.message), utf8(JSON.stringify(failure))),
    );
    return;
  }
  metrics.requests.inc({ endpoint, code: "ok" });
  answer(log, () => msg.respond(utf8(reply)));
}

/** Sends a reply. One that cannot leave (the connection closed while the request ran) is
 * logged, not thrown: the client's request times out and it retries. */
function answer(log: Logger, send: () => unknown): void {
  try {
    send();
  } catch (error) {
    log.debug({ err: error }, "reply not sent");
  }
}

/** A header value holds no line breaks or control characters (the message may quote the
 * client's bad input), and stays short; the full message is in the JSON body. */
function headerSafe(text: string): string {
  const clean = text.replace(/\p{Cc}+/gu, " ");
  return clean.length > 256 ? `${clean.slice(0, 255)}…` : clean;
}
