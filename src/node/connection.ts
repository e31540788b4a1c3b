import type { NodeConfig } from "../config/schema.js";
import type { NatsSettings } from "../nats/connection.js";

export { connectionOptions, connectNats, type NatsSettings } from "../nats/connection.js";

/** A node's connection settings: its servers, authentication and TLS, and no echo. */
export function natsSettingsOf(config: NodeConfig): NatsSettings {
  return {
    servers: config.nats,
    name: `regsync-node-${config.id}`,
    noEcho: true,
    ...config.natsAuth,
    tls: config.tls,
    inboxPrefix: config.inboxPrefix,
  };
}
