/**
 * Checks of the addresses a node or client is given (NATS URLs, the HTTP listen address), shared
 * by the config schema and the client, so a typo is refused at load with the value quoted
 * instead of surfacing later as a process that never connects or never serves.
 */

const NATS_SCHEMES = new Set(["nats:", "tls:", "ws:", "wss:"]);

/** What is wrong with a NATS server address, or undefined when it is usable. Accepts what
 * nats.js accepts: `nats://`, `tls://`, `ws://`, `wss://` URLs, or a bare `host[:port]`. */
export function natsUrlProblem(value: string): string | undefined {
  const text = value.trim();
  if (text === "") return "a NATS URL cannot be empty";
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `nats://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return `"${value}" is not a NATS URL (expected nats://host:port)`;
  }
  if (!NATS_SCHEMES.has(url.protocol)) {
    return `"${value}" has scheme ${url.protocol.slice(0, -1)}; NATS URLs use nats, tls, ws or wss`;
  }
  if (url.hostname === "") return `"${value}" names no host (expected nats://host:port)`;
  return undefined;
}

/** A `host:port` (or `[v6]:port`, or `:port` for 127.0.0.1) to listen on, or an error message. */
export function parseListen(listen: string): { host: string; port: number } | { problem: string } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen);
  if (match === null) return { problem: `"${listen}" is not host:port (e.g. 127.0.0.1:7420)` };
  const port = Number(match[3]);
  if (port > 65535) return { problem: `"${listen}": port ${port} is above 65535` };
  return { host: match[1] ?? (match[2] || "127.0.0.1"), port };
}
