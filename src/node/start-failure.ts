import { NamedError } from "../core/named-error.js";
import { DataDirError } from "../storage/lmdb-storage.js";

/**
 * A node could not start. The message is one line that names the setting to change, so an
 * operator who reads only the last line of a failed unit knows what to fix.
 */
export class StartFailure extends NamedError {
  constructor(
    /** The configuration setting at fault (`httpListen`, `dataDir`, `natsAuth`, `tls`, …). */
    readonly setting: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** NATS error codes that mean the credentials were refused: retrying the same ones cannot help. */
const AUTH_CODES = new Set([
  "AUTHORIZATION_VIOLATION",
  "AUTHENTICATION_EXPIRED",
  "AUTHENTICATION_TIMEOUT",
  "ACCOUNT_EXPIRED",
  "BAD_AUTHENTICATION",
]);

/**
 * Whether a failure of the first connection attempt is fatal: refused credentials or a TLS
 * mismatch. A server that is merely down or unreachable is not: the node waits for it.
 */
export function isFatalConnectError(error: unknown): boolean {
  return natsSetting(error) !== undefined;
}

function natsSetting(error: unknown): "natsAuth" | "tls" | undefined {
  const { code = "", message = "" } = error as { code?: string; message?: string };
  if (AUTH_CODES.has(code) || /authori[sz]ation violation|authentication/i.test(message))
    return "natsAuth";
  // nats.js reports a TLS mismatch as SERVER_OPT_NA "tls"; Node's TLS layer as ERR_TLS_* or
  // certificate errors.
  if (
    (code === "SERVER_OPT_NA" && /tls/i.test(message)) ||
    code.startsWith("ERR_TLS") ||
    /CERT|SSL/.test(code) ||
    /certificate|tls|ssl/i.test(message)
  )
    return "tls";
  return undefined;
}

/** Describes what went wrong at start, as one line naming the setting to change. */
export function explainStartFailure(error: unknown, config: StartSettings): StartFailure {
  if (error instanceof StartFailure) return error;
  const cause = { cause: error };
  const text = oneLine(error instanceof Error ? error.message : String(error));
  const file = (error as { path?: string }).path;
  if (file !== undefined) {
    const setting = settingOfFile(file, config);
    if (setting !== undefined)
      return new StartFailure(setting.split(".")[0]!, `${text} (setting ${setting})`, cause);
  }
  if (error instanceof DataDirError)
    return new StartFailure("dataDir", `${text} (setting dataDir, flag --data-dir)`, cause);
  const nats = natsSetting(error);
  if (nats === "natsAuth")
    return new StartFailure(
      "natsAuth",
      `NATS refused the node's credentials (${text}); check natsAuth (user/pass, token, nkeySeedFile, credsFile)`,
      cause,
    );
  if (nats === "tls")
    return new StartFailure(
      "tls",
      `TLS to NATS failed (${text}); check the server URLs' scheme and tls.ca, tls.cert, tls.key`,
      cause,
    );
  return new StartFailure("", text, cause);
}

/** The settings a start failure may point at. */
export interface StartSettings {
  natsAuth?: { nkeySeedFile?: string; credsFile?: string };
  tls?: { ca?: string; cert?: string; key?: string };
}

/** The file setting that names `file`, when one does: a missing seed, creds or PEM file. */
function settingOfFile(file: string, config: StartSettings): string | undefined {
  const files: [string, string | undefined][] = [
    ["natsAuth.nkeySeedFile", config.natsAuth?.nkeySeedFile],
    ["natsAuth.credsFile", config.natsAuth?.credsFile],
    ["tls.ca", config.tls?.ca],
    ["tls.cert", config.tls?.cert],
    ["tls.key", config.tls?.key],
  ];
  return files.find(([, value]) => value === file)?.[0];
}

/** The HTTP listener could not bind: say which setting picks another address, and why it may
 * be taken. */
export function httpBindFailure(error: unknown, listen: string): StartFailure {
  const code = (error as { code?: string }).code;
  const why =
    code === "EADDRINUSE"
      ? `${listen} is in use, perhaps by another regsync node on this host`
      : `cannot listen on ${listen} (${oneLine((error as Error).message)})`;
  return new StartFailure(
    "httpListen",
    `HTTP: ${why}; set --http-listen (httpListen) to a free address, 127.0.0.1:0 for any free port, or "" to disable HTTP`,
    { cause: error },
  );
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, "; ");
}
