import { readFileSync } from "node:fs";
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "nats";

/**
 * Connecting to NATS, shared by nodes, the client and the CLI: reconnecting forever, with the
 * authentication and TLS settings read once here.
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
}

/** Reconnect forever: a registry node that gives up on NATS is a node that silently stops. */
const RECONNECT_WAIT_MS = 250;
const RECONNECT_JITTER_MS = 250;

export function connectionOptions(settings: NatsSettings): ConnectionOptions {
  const options: ConnectionOptions = {
    servers: settings.servers,
    name: settings.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    reconnectJitter: RECONNECT_JITTER_MS,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    noEcho: settings.noEcho ?? false,
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

export function connectNats(settings: NatsSettings): Promise<NatsConnection> {
  return connect(connectionOptions(settings));
}
