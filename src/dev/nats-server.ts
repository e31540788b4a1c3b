import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface NatsServerOptions {
  /** Binary to run; default `$NATS_SERVER`, else `nats-server` from PATH. */
  binary?: string;
  /** Extra configuration text (accounts, max_payload, cluster, …) appended to the generated file. */
  config?: string;
  /** Also serve the monitoring endpoint (`/varz`, `/routez`) on a free loopback port. */
  monitor?: boolean;
  /** Fixed client port (for restarts); default a free one. */
  port?: number;
  startTimeoutMs?: number;
}

export interface NatsServerHandle {
  url: string;
  port: number;
  monitorUrl?: string;
  pid: number;
  configPath: string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its files. */
  stop(): Promise<void>;
  /** Sends a signal without cleaning up (a crash); `restart()` brings it back on the same ports. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
  /** The server's log so far. */
  logs(): string;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Asks the kernel for a free loopback port. */
export async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/**
 * Starts a nats-server on 127.0.0.1 with free ports, waits until it accepts NATS connections,
 * and returns a handle. Used by the tests, the benchmarks and `regsync dev`.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), "regsync-nats-"));
  const port = options.port ?? (await freePort());
  const monitorPort = options.monitor ? await freePort() : undefined;
  const configPath = join(dir, "nats.conf");
  const lines = [`listen: "127.0.0.1:${port}"`, `pid_file: "${join(dir, "nats.pid")}"`];
  if (monitorPort !== undefined) lines.push(`http: "127.0.0.1:${monitorPort}"`);
  if (options.config) lines.push(options.config);
  writeFileSync(configPath, `${lines.join("\n")}\n`);
  const binary = options.binary ?? process.env.NATS_SERVER ?? "nats-server";
  let child: ChildProcess;
  let log = "";

  const launch = async () => {
    child = spawn(binary, ["-c", configPath], { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    const collect = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-64 * 1024);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    const exited = new Promise<never>((_, reject) => {
      child.once("error", (error) => reject(new Error(`cannot start ${binary}: ${error.message}`)));
      child.once("exit", (code) => {
        live.delete(child);
        reject(
          new Error(`nats-server exited with code ${code} while starting:\n${log.slice(-2_000)}`),
        );
      });
    });
    exited.catch(() => {});
    await Promise.race([waitForNats(port, options.startTimeoutMs ?? 10_000), exited]);
  };

  const signal = (sig: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      child.once("exit", () => {
        clearTimeout(timer);
        live.delete(child);
        resolve();
      });
      child.kill(sig);
    });

  try {
    await launch();
  } catch (error) {
    await signal("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    monitorUrl: monitorPort === undefined ? undefined : `http://127.0.0.1:${monitorPort}`,
    get pid() {
      return child.pid ?? -1;
    },
    configPath,
    async stop() {
      await signal("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
    kill: (sig = "SIGKILL") => signal(sig),
    restart: launch,
    logs: () => log,
  };
}

/** Resolves once a NATS server on `port` greets a TCP client with its INFO line. */
export async function waitForNats(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await greets(port)) return;
    if (Date.now() > deadline)
      throw new Error(
        `nats-server on port ${port} did not accept connections within ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}

function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("data", (data) => done(data.toString().startsWith("INFO ")));
  });
}
