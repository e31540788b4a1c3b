import { createServer } from "node:net";

/** The only address the development launcher ever binds or dials. */
export const LOOPBACK = "127.0.0.1";

/**
 * Ports a free-port request must never return, even if the kernel offers them: 4222 is the
 * default NATS port, where a developer's own server may run.
 */
const AVOIDED_PORTS: ReadonlySet<number> = new Set([4222, 6222, 8222]);

/** How many times `freePort` asks the kernel again after drawing an avoided port. */
const FREE_PORT_ATTEMPTS = 8;

/**
 * Asks the kernel for a free port on 127.0.0.1 and releases it. Another process could take it
 * before the caller binds it; the window is a few milliseconds and the kernel hands out
 * ephemeral ports in a pseudo-random order, so this is reserved for ports that must be known
 * before a server starts (cluster routes). Everything else binds port -1 and reads back the
 * port the server chose.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < FREE_PORT_ATTEMPTS; attempt++) {
    const port = await kernelPort();
    if (!AVOIDED_PORTS.has(port)) return port;
  }
  throw new Error(`no free loopback port after ${FREE_PORT_ATTEMPTS} attempts`);
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("the kernel gave no port")),
      );
    });
  });
}
