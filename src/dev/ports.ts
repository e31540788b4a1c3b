import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** The only address the development launcher ever binds or dials. */
export const LOOPBACK = "127.0.0.1";

/**
 * Ports a free-port request must never return, even if the kernel offers them: 4222 is the
 * default NATS port, where a developer's own server may run.
 */
const AVOIDED_PORTS: ReadonlySet<number> = new Set([4222, 6222, 8222]);

/** How many ports `freePort` tries before it gives up. */
const FREE_PORT_ATTEMPTS = 32;

/** Lowest port `freePort` draws from: clear of the well-known and registered ports in use. */
const LOWEST_DRAWN_PORT = 10_000;

/**
 * Finds a free port on 127.0.0.1 and releases it, for ports that must be known before a server
 * starts (cluster routes); everything else binds port -1 and reads back the port the server
 * chose. The port is drawn at random below the kernel's ephemeral range: a port the kernel
 * handed out could be taken, before the server binds it, as the local end of any outgoing
 * connection (a test's NATS client, say), while ports below that range are only ever bound on
 * purpose.
 */
export async function freePort(): Promise<number> {
  const [lowestEphemeral] = ephemeralRange();
  const span = lowestEphemeral - LOWEST_DRAWN_PORT;
  for (let attempt = 0; attempt < FREE_PORT_ATTEMPTS; attempt++) {
    const port = span > 0 ? LOWEST_DRAWN_PORT + Math.floor(Math.random() * span) : 0;
    if (AVOIDED_PORTS.has(port)) continue;
    const bound = await tryBind(port);
    if (bound !== undefined && !AVOIDED_PORTS.has(bound)) return bound;
  }
  throw new Error(`no free loopback port after ${FREE_PORT_ATTEMPTS} attempts`);
}

/** The kernel's ephemeral port range (Linux), or the IANA range elsewhere. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux
  }
  return [49_152, 65_535];
}

/** Binds `port` (0: any) and releases it; the port bound, or undefined if it was taken. */
function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" || error.code === "EACCES" ? resolve(undefined) : reject(error),
    );
    server.listen(port, LOOPBACK, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("the kernel gave no port")),
      );
    });
  });
}

/** How many times a launcher picks fresh ports after one it chose was taken before it bound. */
const PORT_CLASH_ATTEMPTS = 3;

/**
 * Runs `start`, which binds ports chosen in advance with `freePort` (cluster routes, gateways),
 * again with fresh ones when one was taken between the choice and the bind: `freePort` releases
 * the port it found, and a process starting alongside (another test's server, drawing from the
 * same range) may bind it first. Any other failure, and a clash that persists, is thrown.
 */
export async function withPortsRedrawnOnClash<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      const clash = error instanceof Error && /address already in use/.test(error.message);
      if (!clash || attempt >= PORT_CLASH_ATTEMPTS) throw error;
    }
  }
}
