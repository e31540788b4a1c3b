import { LOOPBACK } from "./ports.js";

/**
 * Config blocks for the links between clusters: gateways (a supercluster) and leaf nodes. The
 * launcher passes them as config text, after the caller's own; every address is on loopback.
 */

/** One remote cluster a gateway dials: its name and the gateway URLs of its servers. */
export interface GatewayRemote {
  name: string;
  /** `nats://127.0.0.1:<port>` of the remote servers' gateway listeners (or proxies to them). */
  urls: readonly string[];
}

export interface GatewayConfig {
  /** The gateway's name, which NATS requires to equal the cluster's name. */
  name: string;
  /** Gateway listener port (chosen before start: the other clusters must know it). */
  port: number;
  /**
   * The `host:port` this server tells remote clusters to dial. Servers learn the other gateway
   * URLs of a cluster from its gossip, so a test that puts a proxy in front of every gateway
   * advertises the proxy: gossip then never opens a gateway around it. @default the listener
   */
  advertise?: string;
  remotes: readonly GatewayRemote[];
}

export function renderGateway(gateway: GatewayConfig): string {
  const lines = [
    "gateway {",
    `  name: ${quote(gateway.name)}`,
    `  listen: ${quote(`${LOOPBACK}:${gateway.port}`)}`,
  ];
  if (gateway.advertise !== undefined) lines.push(`  advertise: ${quote(gateway.advertise)}`);
  lines.push("  gateways: [");
  for (const remote of gateway.remotes)
    lines.push(`    { name: ${quote(remote.name)}, urls: [${remote.urls.map(quote).join(", ")}] }`);
  lines.push("  ]", "}");
  return lines.join("\n");
}

/** A hub server's leaf-node listener. */
export interface LeafListenConfig {
  port: number;
  /** What the hub tells leaf servers to dial on reconnect. @default the listener */
  advertise?: string;
}

export function renderLeafListen(leaf: LeafListenConfig): string {
  const lines = ["leafnodes {", `  listen: ${quote(`${LOOPBACK}:${leaf.port}`)}`];
  if (leaf.advertise !== undefined) lines.push(`  advertise: ${quote(leaf.advertise)}`);
  lines.push("}");
  return lines.join("\n");
}

/** A leaf server's connection to a hub: the hub's leaf URLs (`nats-leaf://127.0.0.1:<port>`). */
export interface LeafRemoteConfig {
  urls: readonly string[];
  /** Seconds between reconnect attempts; short on loopback so a healed link comes back soon. */
  reconnectSeconds?: number;
}

export function renderLeafRemote(leaf: LeafRemoteConfig): string {
  const lines = [
    "leafnodes {",
    "  remotes: [",
    `    { urls: [${leaf.urls.map(quote).join(", ")}] }`,
    "  ]",
  ];
  if (leaf.reconnectSeconds !== undefined) lines.push(`  reconnect: ${leaf.reconnectSeconds}`);
  lines.push("}");
  return lines.join("\n");
}

/** Joins config texts, skipping absent ones. */
export function joinConfig(...parts: (string | undefined)[]): string {
  return parts.filter((part) => part !== undefined && part !== "").join("\n");
}

function quote(value: string): string {
  return JSON.stringify(value);
}
