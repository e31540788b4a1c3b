import { LOOPBACK } from "./ports.js";

/**
 * Top-level keys the launcher owns: the listeners (always on 127.0.0.1, on the launcher's
 * ports) and the files it manages. A caller's config text may carry them (nats.conf does);
 * they are commented out there, so a copied production file can never bind 0.0.0.0 or 4222.
 */
export const LAUNCHER_KEYS = [
  "listen",
  "port",
  "host",
  "net",
  "http",
  "http_port",
  "monitor_port",
  "https",
  "https_port",
  "ports_file_dir",
  "pid_file",
  "log_file",
  "logfile",
  "syslog",
  "remote_syslog",
] as const;

/** Blocks the launcher writes from its structured options; the config text must not repeat them. */
const STRUCTURED_BLOCKS = { cluster: "cluster", jetstream: "jetstream" } as const;

/** A cluster block on loopback. */
export interface ClusterConfig {
  /** Cluster name; servers only join a cluster of the same name. @default "regsync-dev" */
  name?: string;
  /** Route listener port; -1 lets the server choose (then a restart may move it). @default -1 */
  port?: number;
  /** Route URLs this server dials, `nats-route://127.0.0.1:<port>`. @default [] */
  routes?: readonly string[];
  /**
   * The `host:port` this server tells its peers to dial. Peers dial a URL they learn this way
   * only when they have no route configured to that address. Tests that put a proxy in every
   * route set it to an address that refuses connections, so gossip can never open a route
   * that bypasses the proxies. @default the route listener
   */
  advertise?: string;
}

export interface ServerConfigParts {
  /** Client port; -1 lets the server choose. */
  clientPort: number;
  /** Monitoring port; -1 lets the server choose; absent: no monitoring listener. */
  monitorPort?: number;
  cluster?: ClusterConfig;
  /** Enables JetStream with its store in this directory (JetStream is off otherwise). */
  jetstreamDir?: string;
  /** Server name (shown in logs and `/varz`). */
  serverName?: string;
  /** The caller's configuration text (accounts, permissions, TLS, limits, …). */
  extra?: string;
}

/** The default cluster name of servers started by the launcher. */
export const DEFAULT_CLUSTER_NAME = "regsync-dev";

/**
 * Renders a nats-server configuration: the caller's text with the launcher's keys commented
 * out, then the launcher's listeners (NATS config files keep the last value of a repeated
 * key, and the launcher's come last).
 */
export function renderServerConfig(parts: ServerConfigParts): string {
  const extra = parts.extra === undefined ? "" : neutraliseLauncherKeys(parts.extra);
  const keys = topLevelKeys(extra);
  if (parts.cluster !== undefined && keys.has(STRUCTURED_BLOCKS.cluster))
    throw new Error("the config text has a cluster block: pass either it or the cluster option");
  if (parts.jetstreamDir !== undefined && keys.has(STRUCTURED_BLOCKS.jetstream))
    throw new Error("the config text has a jetstream block: pass either it or the option");
  const lines = ["# Written by regsync's nats-server launcher (src/dev/nats-server.ts).", extra];
  lines.push("", "# Launcher-owned settings (loopback only):");
  if (parts.serverName !== undefined) lines.push(`server_name: ${quote(parts.serverName)}`);
  lines.push(`listen: ${quote(`${LOOPBACK}:${parts.clientPort}`)}`);
  if (parts.monitorPort !== undefined)
    lines.push(`http: ${quote(`${LOOPBACK}:${parts.monitorPort}`)}`);
  if (parts.jetstreamDir !== undefined)
    lines.push(`jetstream { store_dir: ${quote(parts.jetstreamDir)} }`);
  if (parts.cluster !== undefined) lines.push(renderCluster(parts.cluster));
  return `${lines.join("\n")}\n`;
}

function renderCluster(cluster: ClusterConfig): string {
  const lines = [
    "cluster {",
    `  name: ${quote(cluster.name ?? DEFAULT_CLUSTER_NAME)}`,
    `  listen: ${quote(`${LOOPBACK}:${cluster.port ?? -1}`)}`,
  ];
  if (cluster.advertise !== undefined) lines.push(`  advertise: ${quote(cluster.advertise)}`);
  const routes = cluster.routes ?? [];
  if (routes.length > 0) lines.push(`  routes: [${routes.map(quote).join(", ")}]`);
  lines.push("}");
  return lines.join("\n");
}

/** Comments out the top-level settings the launcher owns, keeping them visible for diagnosis. */
export function neutraliseLauncherKeys(text: string): string {
  const owned = new Set<string>(LAUNCHER_KEYS);
  return mapTopLevelLines(text, (line, key) =>
    key !== undefined && owned.has(key.toLowerCase())
      ? `# (replaced by the launcher) ${line}`
      : line,
  ).join("\n");
}

/** The keys set at the top level of a NATS config text (not inside blocks or arrays). */
export function topLevelKeys(text: string): Set<string> {
  const keys = new Set<string>();
  mapTopLevelLines(text, (line, key) => {
    if (key !== undefined) keys.add(key.toLowerCase());
    return line;
  });
  return keys;
}

const KEY_AT_LINE_START = /^\s*([A-Za-z_$][\w.$-]*)\s*(?=[:={\s]|$)/;

/**
 * Calls `map` for every line with the key the line starts with when it starts at depth 0.
 * Depth counts `{`/`[` outside strings and comments; good enough for hand-written configs.
 */
function mapTopLevelLines(text: string, map: (line: string, key?: string) => string): string[] {
  let depth = 0;
  return text.split("\n").map((line) => {
    const code = stripStringsAndComments(line);
    const key = depth === 0 ? KEY_AT_LINE_START.exec(code)?.[1] : undefined;
    for (const char of code) {
      if (char === "{" || char === "[") depth++;
      else if (char === "}" || char === "]") depth = Math.max(0, depth - 1);
    }
    return map(line, key);
  });
}

function stripStringsAndComments(line: string): string {
  let out = "";
  let quoteChar: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quoteChar !== undefined) {
      if (char === "\\") i++;
      else if (char === quoteChar) quoteChar = undefined;
      continue;
    }
    if (char === '"' || char === "'") {
      quoteChar = char;
      out += " ";
      continue;
    }
    if (char === "#" || (char === "/" && line[i + 1] === "/")) break;
    out += char;
  }
  return out;
}

function quote(value: string): string {
  return JSON.stringify(value);
}
