import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { NamedError } from "../core/named-error.js";
import { forgetDirectory, trackChild, trackDirectory } from "./leftovers.js";
import { type ClusterConfig, renderServerConfig } from "./nats-config.js";
import { LOOPBACK } from "./ports.js";

export { freePort } from "./ports.js";

/** How long a server may take to accept connections; generous for a loaded 2-core machine. */
export const DEFAULT_START_TIMEOUT_MS = 15_000;
/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
export const DEFAULT_STOP_TIMEOUT_MS = 5_000;
/** How much of the server's output `logs()` keeps (the newest part). */
export const DEFAULT_LOG_LIMIT_BYTES = 256 * 1024;
/** How many of the last log lines a start failure quotes. */
const START_ERROR_LOG_LINES = 30;
/** Pause between two readiness probes. */
const PROBE_INTERVAL_MS = 25;
/** How long a failed start waits for the last of the server's output. */
const DRAIN_TIMEOUT_MS = 1_000;
/** How long one readiness probe waits for the INFO line. */
const PROBE_TIMEOUT_MS = 1_000;

export interface NatsServerOptions {
  /** Binary to run. @default `$NATS_SERVER`, else `nats-server` from PATH */
  binary?: string;
  /**
   * Configuration text (accounts, permissions, TLS, `max_payload`, …) written to the server's
   * config file. Its listener settings (`listen`, `port`, `http`, …) are commented out: the
   * launcher always binds 127.0.0.1 on its own ports. `include` paths must be absolute.
   */
  config?: string;
  /** Also serve the monitoring endpoint (`/varz`, `/routez`, `/healthz`) on loopback. @default false */
  monitor?: boolean;
  /** Client port. @default a free one chosen by the server (`-1`) */
  port?: number;
  /** Monitoring port when `monitor` is set. @default a free one chosen by the server */
  monitorPort?: number;
  /** A cluster block on loopback; see `startNatsCluster` for whole clusters. */
  cluster?: ClusterConfig;
  /** Enables JetStream, stored in the server's temporary directory. @default false */
  jetstream?: boolean;
  /** Server name, shown in logs and on the monitoring endpoint. */
  serverName?: string;
  /** Extra command-line arguments, e.g. `["-DV"]` to trace the protocol into `logs()`. */
  args?: readonly string[];
  /**
   * Starts the server in its own process group, so a terminal's Ctrl-C reaches only the owner,
   * which stops the server when it is done with it (`regsync dev` drains its nodes first).
   * @default false
   */
  detached?: boolean;
  /** @default DEFAULT_START_TIMEOUT_MS */
  startTimeoutMs?: number;
  /** @default DEFAULT_STOP_TIMEOUT_MS */
  stopTimeoutMs?: number;
  /** @default DEFAULT_LOG_LIMIT_BYTES */
  logLimitBytes?: number;
}

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`, for `connect({ servers })`. */
  readonly url: string;
  /** The same URL, named to pair with `routeUrl`. */
  readonly clientUrl: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` when started with `monitor`. */
  readonly monitorUrl: string | undefined;
  readonly monitorPort: number | undefined;
  /** The route listener's port when started with a cluster block from `cluster`. */
  readonly clusterPort: number | undefined;
  /** `nats-route://127.0.0.1:<clusterPort>`, for other servers' `routes`. */
  readonly routeUrl: string | undefined;
  /** The running process's id; -1 while it is down. */
  readonly pid: number;
  readonly running: boolean;
  readonly configPath: string;
  /** The temporary directory holding the config, ports file and JetStream store. */
  readonly dir: string;
  /** Stops the server (SIGTERM, then SIGKILL after the stop timeout) and removes its files. */
  stop(): Promise<void>;
  /**
   * Ends the process with `signal` (a crash by default) and waits for it to exit, keeping its
   * files; `restart()` brings it back on the same ports.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Sends a signal without waiting (`SIGHUP` reloads the config, `SIGUSR2` enters lame duck). */
  signal(signal: NodeJS.Signals): void;
  /** Starts the server again on the same ports, stopping it first if it runs. */
  restart(): Promise<void>;
  /** The server's output so far (the newest `logLimitBytes`), across restarts. */
  logs(): string;
}

/** A server that exited, or never accepted connections, while starting. */
export class NatsServerStartError extends NamedError {
  readonly code = "nats_server_start_failed";
  constructor(
    message: string,
    /** The server's whole output (within the log limit). */
    readonly log: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}\n--- last lines of the nats-server log ---\n${tail(log)}`, options);
  }
}

/** Ports the server runs on; -1 until it has started once and reported what it chose. */
interface Ports {
  client: number;
  monitor: number | undefined;
  cluster: number | undefined;
}

/**
 * Starts a nats-server on 127.0.0.1, waits until it greets a NATS client, and returns a handle.
 * Ports the caller leaves open are chosen by the server (`-1`) and read back from its ports
 * file, so two launches never race for a port; restarts reuse them. Output is collected, never
 * printed; a start failure throws a `NatsServerStartError` quoting the log. Every server is
 * killed when the process exits, even if its owner never calls `stop()`.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = options.binary ?? process.env.NATS_SERVER ?? "nats-server";
  const dir = mkdtempSync(join(tmpdir(), "regsync-nats-"));
  trackDirectory(dir);
  const configPath = join(dir, "nats.conf");
  const ports: Ports = {
    client: options.port ?? -1,
    monitor: options.monitor ? (options.monitorPort ?? -1) : undefined,
    cluster: options.cluster === undefined ? undefined : (options.cluster.port ?? -1),
  };
  const log = new LogBuffer(options.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES);
  const stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
  let child: ChildProcess | undefined;
  let alive = false;
  /** Resolves when the current process has exited (or could not be spawned). */
  let exited: Promise<void> = Promise.resolve();
  /** Resolves when the current process's output has been read to the end. */
  let drained: Promise<void> = Promise.resolve();
  let removed = false;

  const writeConfig = () => {
    const text = renderServerConfig({
      clientPort: ports.client,
      monitorPort: ports.monitor,
      cluster:
        options.cluster === undefined ? undefined : { ...options.cluster, port: ports.cluster },
      jetstreamDir: options.jetstream ? join(dir, "jetstream") : undefined,
      serverName: options.serverName,
      extra: options.config,
    });
    writeFileSync(configPath, text);
  };

  const isRunning = () => alive;

  /** Signals the process and waits for it to exit, escalating to SIGKILL after the timeout. */
  const terminate = async (signal: NodeJS.Signals) => {
    if (!isRunning()) return exited;
    const escalate = setTimeout(() => child?.kill("SIGKILL"), stopTimeoutMs);
    child!.kill(signal);
    await exited;
    clearTimeout(escalate);
  };

  const launch = async () => {
    if (removed) throw new Error("this nats-server was stopped; start a new one");
    writeConfig();
    removePortsFiles(dir);
    const started = spawn(
      binary,
      ["-c", configPath, "--ports_file_dir", dir, ...(options.args ?? [])],
      {
        stdio: ["ignore", "pipe", "pipe"],
        detached: options.detached ?? false,
      },
    );
    child = started;
    alive = true;
    trackChild(started);
    started.stdout?.on("data", (chunk: Buffer) => log.append(chunk));
    started.stderr?.on("data", (chunk: Buffer) => log.append(chunk));
    let failure: Error | undefined;
    exited = new Promise<void>((resolve) => {
      started.once("exit", (code, signal) => {
        alive = false;
        failure ??= new Error(`it exited (${signal ?? `code ${code}`})`);
        resolve();
      });
      started.once("error", (error) => {
        alive = false;
        const hint =
          (error as NodeJS.ErrnoException).code === "ENOENT"
            ? ` (not found: install it with "apt-get install nats-server", or set $NATS_SERVER to its path)`
            : "";
        failure = new Error(`cannot run ${binary}: ${error.message}${hint}`, { cause: error });
        resolve();
      });
    });
    drained = new Promise<void>((resolve) => {
      started.once("close", () => resolve());
      started.once("error", () => resolve());
    });
    const deadline = Date.now() + (options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    for (;;) {
      if (failure !== undefined) {
        // The last lines (why it exited) may still be in the pipes.
        await Promise.race([drained, sleep(DRAIN_TIMEOUT_MS)]);
        throw new NatsServerStartError(
          `nats-server did not start: ${failure.message}`,
          log.text(),
          {
            cause: failure,
          },
        );
      }
      const reported = started.pid === undefined ? undefined : readPortsFile(dir, started.pid);
      if (reported !== undefined && (await greets(reported.client))) {
        ports.client = reported.client;
        if (ports.monitor !== undefined) ports.monitor = reported.monitor;
        if (ports.cluster !== undefined) ports.cluster = reported.cluster;
        return;
      }
      if (Date.now() > deadline) {
        await terminate("SIGKILL");
        throw new NatsServerStartError(
          `nats-server did not accept connections within ${options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms`,
          log.text(),
        );
      }
      await sleep(PROBE_INTERVAL_MS);
    }
  };

  const remove = () => {
    removed = true;
    rmSync(dir, { recursive: true, force: true });
    forgetDirectory(dir);
  };

  try {
    await launch();
  } catch (error) {
    await terminate("SIGKILL");
    remove();
    throw error;
  }

  const url = () => `nats://${LOOPBACK}:${ports.client}`;
  return {
    get url() {
      return url();
    },
    get clientUrl() {
      return url();
    },
    get port() {
      return ports.client;
    },
    get monitorUrl() {
      return ports.monitor === undefined ? undefined : `http://${LOOPBACK}:${ports.monitor}`;
    },
    get monitorPort() {
      return ports.monitor;
    },
    get clusterPort() {
      return ports.cluster;
    },
    get routeUrl() {
      return ports.cluster === undefined ? undefined : `nats-route://${LOOPBACK}:${ports.cluster}`;
    },
    get pid() {
      return isRunning() ? (child?.pid ?? -1) : -1;
    },
    get running() {
      return isRunning();
    },
    configPath,
    dir,
    async stop() {
      await terminate("SIGTERM");
      if (!removed) remove();
    },
    kill: (signal = "SIGKILL") => terminate(signal),
    signal(signal) {
      if (isRunning()) child!.kill(signal);
    },
    async restart() {
      await terminate("SIGTERM");
      log.append(Buffer.from("--- restarted by the launcher ---\n"));
      try {
        await launch();
      } catch (error) {
        await terminate("SIGKILL");
        throw error;
      }
    },
    logs: () => log.text(),
  };
}

/** Resolves once a NATS server on 127.0.0.1:`port` greets a TCP client with its INFO line. */
export async function waitForNats(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await greets(port)) return;
    if (Date.now() > deadline)
      throw new Error(
        `nats-server on port ${port} did not accept connections within ${timeoutMs} ms`,
      );
    await sleep(PROBE_INTERVAL_MS);
  }
}

/** One probe: connect, read the first line, hang up. A NATS server speaks first, with `INFO {…}`. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: LOOPBACK, port });
    let received = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (data: Buffer) => {
      received += data.toString("latin1");
      if (received.includes("\n") || received.length >= 5) done(received.startsWith("INFO "));
    });
  });
}

/** The ports a server reported in `<binary>_<pid>.ports`, once the file is complete. */
function readPortsFile(dir: string, pid: number): Ports | undefined {
  const name = readdirSync(dir).find((file) => file.endsWith(`_${pid}.ports`));
  if (name === undefined) return undefined;
  try {
    const file = JSON.parse(readFileSync(join(dir, name), "utf8")) as {
      nats?: string[];
      monitoring?: string[];
      cluster?: string[];
    };
    const client = portOf(file.nats?.[0]);
    if (client === undefined) return undefined;
    return { client, monitor: portOf(file.monitoring?.[0]), cluster: portOf(file.cluster?.[0]) };
  } catch {
    return undefined; // written but not yet complete
  }
}

function portOf(url: string | undefined): number | undefined {
  if (url === undefined) return undefined;
  const port = Number(new URL(url).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

function removePortsFiles(dir: string): void {
  for (const file of readdirSync(dir))
    if (file.endsWith(".ports")) rmSync(join(dir, file), { force: true });
}

/** Keeps the newest `limit` bytes of a process's output. */
class LogBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1)
      this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks).toString("utf8");
    return all.length > this.limit ? all.slice(-this.limit) : all;
  }
}

function tail(log: string): string {
  const lines = log.trimEnd().split("\n");
  return lines.length === 0 || log.trim() === ""
    ? "(the server wrote nothing)"
    : lines.slice(-START_ERROR_LOG_LINES).join("\n");
}
