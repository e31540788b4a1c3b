import type { NatsConnection } from "nats";
import { connectFailureCause } from "../nats/connect-failure.js";
import { connectNats, NatsConnectError, type NatsSettings } from "../nats/connection.js";
import { isFatalConnectError } from "./start-failure.js";

/** First retry after a failed connection, doubled per failure up to the maximum. */
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5_000;

/**
 * A node's first connection. Refused credentials or a TLS mismatch fail the start at once
 * (they will not heal by waiting); a server that is down or unreachable is waited for, each
 * failed attempt reported with its cause to `onFailure`, until `stopped()` turns true (then
 * the result is undefined).
 */
export async function connectForStart(
  settings: NatsSettings,
  onFailure: (error: NatsConnectError, attempt: number, retryInMs: number) => void,
  stopped: () => boolean,
): Promise<NatsConnection | undefined> {
  for (let attempt = 1; !stopped(); attempt++) {
    try {
      return await connectNats(settings, "node");
    } catch (error) {
      const cause = error instanceof NatsConnectError ? (error.cause ?? error) : error;
      if (isFatalConnectError(cause)) throw cause;
      const failure =
        error instanceof NatsConnectError
          ? error
          : new NatsConnectError(settings.servers, connectFailureCause(error), { cause: error });
      const retryInMs = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
      onFailure(failure, attempt, retryInMs);
      await new Promise((resolve) => setTimeout(resolve, retryInMs * (0.5 + Math.random() / 2)));
    }
  }
  return undefined;
}
