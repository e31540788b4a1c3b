import { connect, type NatsConnection } from "nats";
import { connectionOptions, connectNats, type NatsSettings } from "./connection.js";
import { isFatalConnectError } from "./start-failure.js";

/**
 * A node's first connection. One attempt first, so that refused credentials or a TLS mismatch
 * fail the start at once (nats.js would retry them forever while it waits for a first
 * connection); a server that is down or unreachable is waited for, as before.
 */
export async function connectForStart(settings: NatsSettings): Promise<NatsConnection> {
  try {
    return await connect({ ...connectionOptions(settings), waitOnFirstConnect: false });
  } catch (error) {
    if (isFatalConnectError(error)) throw error;
  }
  return connectNats(settings);
}
