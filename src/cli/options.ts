import { type ParseArgsConfig, parseArgs } from "node:util";
import { RegistryClient } from "../client/client.js";
import { RegistryClientError } from "../client/errors.js";
import { terminalSafe } from "./format.js";

/** Flags every client command takes: where NATS is, how to authenticate, how to print. */
const COMMON_OPTIONS = {
  nats: { type: "string" },
  prefix: { type: "string" },
  "inbox-prefix": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean" },
  user: { type: "string" },
  password: { type: "string" },
  token: { type: "string" },
  creds: { type: "string" },
  nkey: { type: "string" },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  after: { type: "string" },
  "connect-timeout": { type: "string" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

export const COMMON_HELP = `connection:
  --nats <url[,url…]>      NATS servers (default $NATS_URL, else nats://127.0.0.1:4222)
  --prefix <prefix>        registry subject prefix (default registry)
  --inbox-prefix <p>       prefix of this client's reply inboxes (default $REGSYNC_INBOX_PREFIX,
                           else _INBOX); must match the NATS user's subscribe rights
  --user/--password        (default $NATS_USER / $NATS_PASSWORD)
  --token <token>          (default $NATS_TOKEN)
  --creds <file>           (default $NATS_CREDS)
  --nkey <seed file>       (default $NATS_NKEY)
  --tls-ca, --tls-cert, --tls-key <pem file>
  --connect-timeout <ms>   give up reaching NATS after this long (default 5000)
  --json                   print JSON instead of text
  --after <token>          see the write whose reply gave <token> (regsync register prints it):
                           read-your-writes across commands

Secrets are better given in the environment than as flags, which other users see in ps.`;

/** A command line that cannot be run as written; exit code 2. */
export class UsageError extends Error {}

export type CommandValues = Record<string, string | boolean | string[] | undefined>;

export function parseCommand(
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  positionals: number,
): { values: CommandValues; positionals: string[] } {
  let parsed: { values: CommandValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      strict: true,
      allowPositionals: positionals > 0,
    }) as {
      values: CommandValues;
      positionals: string[];
    };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!parsed.values.help && parsed.positionals.length !== positionals) {
    throw new UsageError(
      positionals === 1 ? "expected one argument" : `expected ${positionals} arguments`,
    );
  }
  return parsed;
}

/** Credentials read from the environment when no flag gives them: the names NATS tools use. */
const CREDENTIAL_ENV = {
  user: "NATS_USER",
  password: "NATS_PASSWORD",
  token: "NATS_TOKEN",
  creds: "NATS_CREDS",
  nkey: "NATS_NKEY",
} as const;

export async function connectClient(
  values: CommandValues,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RegistryClient> {
  const servers = String(values.nats ?? env.NATS_URL ?? "nats://127.0.0.1:4222").split(",");
  const credential = (flag: keyof typeof CREDENTIAL_ENV): string | undefined => {
    const value = (values[flag] as string | undefined) ?? env[CREDENTIAL_ENV[flag]];
    return value === "" ? undefined : value;
  };
  const tls =
    values["tls-ca"] || values["tls-cert"] || values["tls-key"]
      ? {
          ca: values["tls-ca"] as string | undefined,
          cert: values["tls-cert"] as string | undefined,
          key: values["tls-key"] as string | undefined,
        }
      : undefined;
  const connectTimeoutMs = integer(values["connect-timeout"], "connect-timeout");
  if (connectTimeoutMs !== undefined && connectTimeoutMs < 1) {
    throw new UsageError("--connect-timeout takes a positive number of milliseconds");
  }
  return RegistryClient.connect({
    servers,
    prefix: values.prefix as string | undefined,
    inboxPrefix: inboxPrefixOf(values),
    user: credential("user"),
    pass: credential("password"),
    token: credential("token"),
    credsFile: credential("creds"),
    nkeySeedFile: credential("nkey"),
    tls,
    causalToken: values.after as string | undefined,
    connectTimeoutMs,
  });
}

/** A NATS inbox prefix is subject tokens without wildcards; anything else is a usage error
 * here rather than a permissions violation later. */
function inboxPrefixOf(values: CommandValues): string | undefined {
  const prefix = (values["inbox-prefix"] as string | undefined) ?? process.env.REGSYNC_INBOX_PREFIX;
  if (prefix === undefined || prefix === "") return undefined;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix))
    throw new UsageError(
      `--inbox-prefix takes NATS subject tokens such as _INBOX.team-a, got "${prefix}"`,
    );
  return prefix;
}

/**
 * Runs a client command: usage errors exit 2, registry errors exit 1 with the code and, for a
 * refused request, each validation issue once. With `--json` an error is printed as the API's
 * error reply (`{"ok":false,"error":{…}}`) on stdout, so scripts parse one format.
 */
export async function runCommand(
  name: string,
  help: string,
  argv: readonly string[],
  body: () => Promise<number>,
): Promise<number> {
  const json = argv.includes("--json");
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      if (json) printJsonError("usage", error.message);
      else console.error(`regsync ${name}: ${error.message}\n\n${help}`);
      return 2;
    }
    if (error instanceof RegistryClientError) {
      // Messages and issues may quote the request's bad input: escape it for the terminal.
      if (json) {
        printJsonError(error.code, error.message, error.issues);
      } else if (error.issues.length > 0) {
        console.error(terminalSafe(`regsync ${name}: ${error.code}: the request is not valid:`));
        for (const issue of error.issues)
          console.error(terminalSafe(`  ${issue.path}: ${issue.message}`));
      } else {
        console.error(terminalSafe(`regsync ${name}: ${error.code}: ${error.message}`));
      }
      return 1;
    }
    throw error;
  }
}

function printJsonError(code: string, message: string, issues: readonly unknown[] = []): void {
  const error = issues.length > 0 ? { code, message, issues } : { code, message };
  console.log(JSON.stringify({ ok: false, error }));
}

/** `k=v` flags (tags, endpoints) as a record; a malformed one is a usage error. */
export function keyValues(
  values: string[] | undefined,
  flag: string,
): Record<string, string> | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const pair of values) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new UsageError(`--${flag} takes key=value, got "${pair}"`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

export function integer(
  value: string | boolean | string[] | undefined,
  flag: string,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n))
    throw new UsageError(`--${flag} takes a whole number, got "${String(value)}"`);
  return n;
}
