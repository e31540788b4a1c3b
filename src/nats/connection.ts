import { readFileSync } from "node:fs";
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "nats";
import { NamedError } from "../core/named-error.js";
import { connectFailureCause } from "./connect-failure.js";

/**
 * Connecting to NATS, shared by nodes, the client and the CLI: the authentication and TLS
 * settings read once here, a bounded first attempt that names its cause, and reconnection
 * forever for nodes, a few times for clients.
 */

/** Connection settings shared by nodes, the client and the CLI. */
export interface NatsSettings {
  servers: string[];
  name: string;
  /** Do not deliver this connection's own publications back to it (nodes never need them). */
  noEcho?: boolean;
  user?: string;
  pass?: string;
  token?: string;
  nkeySeedFile?: string;
  credsFile?: string;
  tls?: { ca?: string; cert?: string; key?: string };
  /** Prefix of this connection's reply inboxes (default `_INBOX`): with a prefix of its own and
   * subscribe rights on it alone, no other NATS user can read the replies it gets. */
  inboxPrefix?: string;
  /** How long one attempt to reach a server may take. @default 5000 */
  connectTimeoutMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** NATS could not be reached; the message names the servers and the cause. */
export class NatsConnectError extends NamedError {
  constructor(
    readonly servers: readonly string[],
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot connect to NATS at ${servers.join(",")}: ${reason}`, options);
  }
}

const RECONNECT_WAIT_MS = 250;
const RECONNECT_JITTER_MS = 250;
/** A client that lost its server tries this often before its calls fail as unavailable. */
const CLIENT_RECONNECT_ATTEMPTS = 10;

/**
 * nats.js options for one attempt: reach a server within the connect timeout or fail with the
 * cause. After the first connection a node reconnects forever (a node that gives up on NATS is
 * a node that silently stops); a client gives up after a few attempts, so its calls fail.
 */
export function connectionOptions(
  settings: NatsSettings,
  role: "node" | "client" = "client",
): ConnectionOptions {
  const options: ConnectionOptions = {
    servers: settings.servers,
    name: settings.name,
    timeout: settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    maxReconnectAttempts: role === "node" ? -1 : CLIENT_RECONNECT_ATTEMPTS,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: RECONNECT_JITTER_MS,
    waitOnFirstConnect: false,
    pingInterval: 10_000,
    noEcho: settings.noEcho ?? false,
    // nats.js otherwise builds two Error objects (their stacks captured) for every request, in
    // case it times out: a writing client spent 1.5× the CPU a call (`npm run bench -- client`).
    // Our callers turn a timeout into an error code of their own; the stack would say nothing.
    noAsyncTraces: true,
  };
  if (settings.user !== undefined) options.user = settings.user;
  if (settings.pass !== undefined) options.pass = settings.pass;
  if (settings.token !== undefined) options.token = settings.token;
  if (settings.inboxPrefix !== undefined) options.inboxPrefix = settings.inboxPrefix;
  const authenticators: Authenticator[] = [];
  if (settings.nkeySeedFile !== undefined) {
    authenticators.push(
      nkeyAuthenticator(
        new TextEncoder().encode(readFileSync(settings.nkeySeedFile, "utf8").trim()),
      ),
    );
  }
  if (settings.credsFile !== undefined) {
    authenticators.push(credsAuthenticator(new Uint8Array(readFileSync(settings.credsFile))));
  }
  if (authenticators.length > 0) options.authenticator = authenticators;
  if (settings.tls !== undefined) {
    options.tls = {};
    if (settings.tls.ca !== undefined) options.tls.caFile = settings.tls.ca;
    if (settings.tls.cert !== undefined) options.tls.certFile = settings.tls.cert;
    if (settings.tls.key !== undefined) options.tls.keyFile = settings.tls.key;
  }
  return options;
}

/**
 * One bounded attempt to connect (every server once, each within the connect timeout); fails
 * with a NatsConnectError naming the servers and the cause. For clients and the CLI, which must
 * never hang on an unreachable or misconfigured server.
 */
export async function connectNats(
  settings: NatsSettings,
  role: "node" | "client" = "client",
): Promise<NatsConnection> {
  const timeoutMs = settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  let options: ConnectionOptions;
  try {
    options = connectionOptions(settings, role);
  } catch (error) {
    // Unreadable credential files: the cause names the file.
    throw new NatsConnectError(settings.servers, (error as Error).message, { cause: error });
  }
  const attempt = connect(options);
  // A name that never resolves is not bounded by nats.js's own timeout: bound the whole attempt.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new NatsConnectError(settings.servers, `no answer within ${timeoutMs} ms`)),
      timeoutMs * Math.max(1, settings.servers.length) + 500,
    );
  });
  try {
    return await Promise.race([attempt, deadline]);
  } catch (error) {
    attempt.then((late) => late.close()).catch(() => {});
    if (error instanceof NatsConnectError) throw error;
    throw new NatsConnectError(settings.servers, connectFailureCause(error, timeoutMs), {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}
