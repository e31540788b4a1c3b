import { parseArgs } from "node:util";
import { CREDENTIAL_SHORTCUTS, setShortcut } from "../../config/credentials.js";
import {
  ConfigError,
  coerceSetting,
  isBooleanSetting,
  isListSetting,
  loadNodeConfig,
  settingNames,
} from "../../config/load.js";
import { createLogger } from "../../node/log.js";
import { RegistryNode } from "../../node/registry-node.js";
import { explainStartFailure } from "../../node/start-failure.js";
import { DataDirError } from "../../storage/lmdb-storage.js";
import { createSyncCodec } from "../../sync/envelope-codec.js";
import { prepareDataDir } from "../data-dir.js";
import { renderBootstrapLine } from "../progress-bar.js";
import { TerminalStatus } from "../terminal-status.js";

const HELP = `usage: regsync node [--config file.json] [--<setting> value …]

Runs a registry node. Every setting of the configuration schema (docs/configuration.md) is
also a flag (--sync-interval-ms 2000) and an environment variable (REGSYNC_SYNC_INTERVAL_MS);
flags win over the environment, which wins over the file.

common flags:
  --nats <url[,url…]>        NATS servers (default nats://127.0.0.1:4222)
  --id <nodeId>              node id (default: derived from the host name)
  --memory                   keep nothing on disk
  --data-dir <dir>           where the replica is stored (default .regsync/<id>)
  --subject-prefix <prefix>  subject prefix (default registry)
  --log-level <level>        trace|debug|info|warn|error (default info)
  --http-listen <host:port>  metrics, health and status page ("" disables)

NATS credentials (each also a variable: REGSYNC_USER, REGSYNC_PASSWORD, REGSYNC_TOKEN,
REGSYNC_NKEY, REGSYNC_CREDS, REGSYNC_TLS_CA, REGSYNC_TLS_CERT, REGSYNC_TLS_KEY; or whole, as
REGSYNC_NATS_AUTH='{"user":…}' and REGSYNC_TLS='{"ca":…}'). Prefer the variables or the file
for secrets: flags are visible to other users in ps.
  --user <name> --password <pw>   --token <token>
  --nkey <seed file>              --creds <file>
  --tls-ca <pem> --tls-cert <pem> --tls-key <pem>`;

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export async function run(argv: string[]): Promise<number> {
  const keys = settingNames().filter((k) => k !== "natsAuth" && k !== "tls");
  const options: Record<string, { type: "string" | "boolean" }> = {
    config: { type: "string" },
    help: { type: "boolean" },
  };
  for (const shortcut of CREDENTIAL_SHORTCUTS) options[shortcut.flag] = { type: "string" };
  for (const key of keys)
    options[kebab(key)] = { type: isBooleanSetting(key) ? "boolean" : "string" };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (error) {
    console.error(`regsync node: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(HELP);
    return 0;
  }
  const overrides: Record<string, unknown> = {};
  for (const key of keys) {
    const value = parsed.values[kebab(key)];
    if (value === undefined) continue;
    overrides[key] =
      typeof value === "boolean" || (isListSetting(key) && Array.isArray(value))
        ? value
        : coerceSetting(key, String(value));
  }
  for (const shortcut of CREDENTIAL_SHORTCUTS) {
    const value = parsed.values[shortcut.flag];
    if (typeof value === "string") setShortcut(overrides, shortcut, value);
  }
  let node: RegistryNode;
  try {
    const config = loadNodeConfig({
      file: parsed.values.config as string | undefined,
      env: process.env,
      overrides,
    });
    if (!config.memory) {
      const problem = prepareDataDir(config.dataDir ?? `.regsync/${config.id}`);
      if (problem !== undefined) throw new ConfigError(problem);
    }
    const terminal = terminalFor(process.stdout) ?? terminalFor(process.stderr);
    // Logs share the terminal with the progress bar only when both go to stdout.
    const logger =
      terminal !== undefined && process.stdout.isTTY
        ? createLogger(config.logLevel, { node: config.id }, config.logFormat, terminal)
        : undefined;
    node = new RegistryNode({ config, codec: createSyncCodec(config), logger });
    if (terminal !== undefined) showBootstrapProgress(node, config.id, terminal);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`regsync node: ${error.message}`);
      return 1;
    }
    if (error instanceof DataDirError) return failedStart(explainStartFailure(error, {}));
    throw error;
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    node.log.info({ signal }, "shutting down");
    node.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  try {
    await node.start();
  } catch (error) {
    return failedStart(error);
  }
  return new Promise<number>(() => {});
}

/** Longest a failed start lingers (flushing its last log lines) before the process exits. */
const FAILED_START_EXIT_MS = 500;

/** One line on stderr naming the setting to change, then exit: a node that failed to start
 * must not linger half-started. The node has already released what it held. */
function failedStart(error: unknown): number {
  console.error(`regsync node: ${error instanceof Error ? error.message : String(error)}`);
  setTimeout(() => process.exit(1), FAILED_START_EXIT_MS).unref();
  return 1;
}

/** Redraws at most this often: a bar that flickers faster is no easier to read. */
const REDRAW_INTERVAL_MS = 100;

function terminalFor(stream: NodeJS.WriteStream): TerminalStatus | undefined {
  return stream.isTTY ? new TerminalStatus(stream) : undefined;
}

/** A bootstrap progress bar at the bottom of the terminal; the final state stays on screen. */
function showBootstrapProgress(node: RegistryNode, id: string, terminal: TerminalStatus): void {
  let drawnAt = 0;
  node.onBootstrapProgress((progress) => {
    const now = Date.now();
    if (progress.state === "running" && now - drawnAt < REDRAW_INTERVAL_MS) return;
    drawnAt = now;
    terminal.show([renderBootstrapLine(id, progress, terminal.columns)]);
    if (progress.state !== "running") terminal.commit();
  });
}
