import type { NatsConnection, Subscription } from "nats";
import type { Logger } from "pino";
import { CLIENT_ENDPOINTS, type ClientEndpoint } from "../subjects.js";
import { utf8 } from "../wire/utf8.js";
import type { RegistryApi } from "./api.js";

/** A forwarded request waits this long for the node that took the client's write. */
const FORWARD_TIMEOUT_MS = 1_000;
const decoder = new TextDecoder();

/**
 * Sends a client's request to the node that accepted its earlier write, when this replica has
 * not received that write yet. Resolves with that node's reply text (a success or an error
 * reply), or undefined when it cannot be reached (gone, or too slow): the caller then answers
 * from its own replica and says the answer may be stale.
 */
export async function forwardRequest(
  nc: NatsConnection,
  subject: string,
  endpoint: ClientEndpoint,
  body: unknown,
): Promise<string | undefined> {
  try {
    const reply = await nc.request(subject, utf8(JSON.stringify({ endpoint, body })), {
      timeout: FORWARD_TIMEOUT_MS,
    });
    return decoder.decode(reply.data);
  } catch {
    return undefined;
  }
}

/** Answers requests forwarded to this node (on a node-only sync subject). */
export function serveForwarded(
  nc: NatsConnection,
  subject: string,
  api: RegistryApi,
  log: Logger,
): Subscription {
  return nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      let request: { endpoint: ClientEndpoint; body: unknown };
      try {
        request = JSON.parse(decoder.decode(msg.data));
        if (!CLIENT_ENDPOINTS.includes(request.endpoint)) throw new Error("unknown endpoint");
      } catch (error) {
        log.warn({ err: error }, "rejected a forwarded request");
        return;
      }
      void api.handleForwarded(request.endpoint, request.body).then((reply) => {
        try {
          msg.respond(utf8(reply));
        } catch (error) {
          log.debug({ err: error }, "forwarded reply not sent");
        }
      });
    },
  });
}
