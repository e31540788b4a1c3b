import type { NatsConnection, ServiceMsg } from "nats";
import type { Logger } from "pino";
import { RegistryError } from "../errors.js";
import {
  CLIENT_ENDPOINTS,
  CLIENT_QUEUE,
  type ClientEndpoint,
  SERVICE_NAME,
  WRITE_ENDPOINTS,
} from "../subjects.js";
import { VERSION } from "../version.js";
import { utf8 } from "../wire/utf8.js";
import type { RegistryApi } from "./api.js";
import { guardedServices } from "./control-guard.js";
import { type EndpointStats, endpointStats } from "./endpoint-stats.js";
import type { NodeState } from "./lifecycle.js";
import type { NodeMetrics } from "./metrics.js";
import type { RejectionLog } from "./rejection-log.js";
import type { ReplyGuard } from "./reply-guard.js";
import { RequestPacer } from "./request-pacer.js";

/** Where a user of the API reads its contract: shipped in the package beside the code. */
const CLIENT_DOCS = "docs/client.md in the regsync package";
/** The client API's version: subjects, JSON fields and error codes only grow within it. */
const API_VERSION = "v1";

export interface ClientService {
  /** Joins the queue group: from now on this node takes its share of client requests. Resolves
   * once the server has the subscriptions, so a request sent after it finds this node. */
  serve(): Promise<void>;
  /** Shows the node's lifecycle state in the service's metadata (`nats micro info registry`). */
  setState(state: NodeState): void;
  /** Stops taking requests, then waits until every request taken has been answered. */
  stop(): Promise<void>;
}

interface ServeOptions {
  prefix: string;
  nodeId: string;
  api: RegistryApi;
  metrics: NodeMetrics;
  log: Logger;
  replies: ReplyGuard;
  rejections: RejectionLog;
  /** The NATS server's max_payload: a reply larger than this would be dropped by the server. */
  maxPayload: () => number;
}

/**
 * Serves the client API (docs/client.md) as the NATS micro service `registry`: every node in the
 * queue group `registry`, with its id in the metadata, so `nats micro ls|info|stats` see each node.
 * The service is visible (ping, info, stats, with the node's state) from the start, but its
 * endpoints join the queue group only on `serve()`, once the node holds what its peers hold:
 * a node that is not ready never takes a client's request. The writes are served on
 * per-service subjects too (`registry.register.<service>`). Requests run in arrival order
 * through a RequestPacer.
 */
export async function startClientService(
  nc: NatsConnection,
  options: ServeOptions,
): Promise<ClientService> {
  const pacer = new RequestPacer((error) =>
    options.log.error({ err: error }, "request handler failed"),
  );
  const services = guardedServices(nc, (msg) => {
    if (options.replies.accepts(msg.reply)) return true;
    options.metrics.requestsDropped.inc({ endpoint: "$SRV", reason: "reply_subject" });
    options.rejections.rejected(
      "reply_subject",
      { endpoint: "$SRV", reply: headerSafe(msg.reply ?? "") },
      "micro service request dropped: its reply subject is not under a configured inbox prefix",
    );
    return false;
  });
  // nats.js keeps this object and reads it for every INFO and PING reply.
  const metadata: Record<string, string> = {
    node: options.nodeId,
    state: "starting",
    docs: CLIENT_DOCS,
    version: VERSION,
  };
  const service = await services.add({
    name: SERVICE_NAME,
    version: VERSION,
    description: "regsync service registry",
    metadata,
    queue: CLIENT_QUEUE,
  });
  let serving = false;
  return {
    async serve() {
      if (serving || service.isStopped) return;
      serving = true;
      const group = service.addGroup(options.prefix);
      const add = (name: string, endpoint: ClientEndpoint, scoped: boolean) => {
        let stats: EndpointStats | undefined;
        group.addEndpoint(name, {
          subject: scoped ? `${endpoint}.*` : endpoint,
          handler: (err, msg) => {
            if (err) {
              options.log.error({ err, endpoint }, "service endpoint failed");
              return;
            }
            const scope = scoped ? msg.subject.slice(msg.subject.lastIndexOf(".") + 1) : undefined;
            const receivedAt = performance.now();
            pacer.submit(() => serve(endpoint, msg, scope, options, receivedAt, stats!));
          },
          metadata: { contract: `regsync client API ${API_VERSION}`, docs: CLIENT_DOCS },
        });
        stats = endpointStats(service, name);
      };
      for (const endpoint of CLIENT_ENDPOINTS) add(endpoint, endpoint, false);
      for (const endpoint of WRITE_ENDPOINTS) add(`${endpoint}-scoped`, endpoint, true);
      // A closed connection has nothing to flush; the node is stopping then.
      await nc.flush().catch(() => undefined);
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
  endpoint: ClientEndpoint,
  msg: ServiceMsg,
  scope: string | undefined,
  options: ServeOptions,
  receivedAt: number,
  stats: EndpointStats,
): Promise<void> {
  const { api, metrics, log, replies, rejections } = options;
  const done = (code: string, message?: string) => {
    const elapsedMs = performance.now() - receivedAt;
    metrics.requestServed(endpoint, code, elapsedMs / 1000);
    stats.record(elapsedMs, message === undefined ? undefined : { code, message });
  };
  if (!replies.accepts(msg.reply)) {
    // Neither handled nor answered: the request may be a reflection attempt, and a write
    // whose reply cannot be delivered should not happen either.
    metrics.requestsDropped.inc({ endpoint, reason: "reply_subject" });
    rejections.rejected(
      "reply_subject",
      { endpoint, reply: headerSafe(msg.reply ?? "") },
      "request dropped: its reply subject is not under a configured inbox prefix (replyPrefixes)",
    );
    return;
  }
  let reply: Uint8Array;
  try {
    reply = utf8(await api.handle(endpoint, msg.data, scope));
    const maxPayload = options.maxPayload();
    if (reply.length > maxPayload) {
      throw new RegistryError(
        "payload_too_large",
        `the reply of ${reply.length} bytes exceeds the NATS server's max_payload of ${maxPayload}; ask for a smaller page (limit)`,
      );
    }
  } catch (error) {
    const failure =
      error instanceof RegistryError
        ? error
        : new RegistryError("internal", "internal error", undefined, { cause: error });
    if (failure.code === "internal") log.error({ err: error, endpoint }, "request failed");
    if (failure.code === "quota_exceeded" || failure.code === "payload_too_large") {
      rejections.rejected(failure.code, { endpoint }, failure.message);
    }
    done(failure.code, failure.message);
    answer(log, () =>
      msg.respondError(failure.status, headerSafe(failure.message), utf8(JSON.stringify(failure))),
    );
    return;
  }
  done("ok");
  answer(log, () => msg.respond(reply));
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
export function headerSafe(text: string): string {
  const clean = text.replace(/\p{Cc}+/gu, " ");
  return clean.length > 256 ? `${clean.slice(0, 255)}…` : clean;
}
