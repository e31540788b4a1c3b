import { readFileSync } from "node:fs";
import { NamedError } from "../core/named-error.js";
import { CREDENTIAL_SHORTCUTS, mergeSources, OBJECT_SETTINGS, setShortcut } from "./credentials.js";
import { type NodeConfig, type NodeConfigInput, NodeConfigSchema } from "./schema.js";

/** A configuration that cannot be used; the message lists every problem. */
export class ConfigError extends NamedError {}

const ARRAY_KEYS = new Set(["nats", "trustedPeers", "replyPrefixes"]);

/**
 * Merges, lowest precedence first, the JSON config file, `REGSYNC_*` environment variables and
 * explicit settings (flags), validates the result and freezes it.
 */
export function loadNodeConfig(sources: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Partial<NodeConfigInput>;
}): NodeConfig {
  const fromFile = sources.file === undefined ? {} : readConfigFile(sources.file);
  const fromEnv = sources.env === undefined ? {} : configFromEnv(sources.env);
  return parseNodeConfig(
    mergeSources(fromFile, fromEnv, (sources.overrides ?? {}) as Record<string, unknown>),
  );
}

export function parseNodeConfig(input: unknown): NodeConfig {
  const result = NodeConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const path = i.path.map(String).join(".") || "(root)";
      if (i.code === "unrecognized_keys") return `unknown setting(s): ${i.keys.join(", ")}`;
      return `${path}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const { maxClockDriftMs, maxClockSkewMs } = result.data;
  if (maxClockDriftMs > maxClockSkewMs) {
    throw new ConfigError(
      `invalid configuration:\n  maxClockDriftMs: ${maxClockDriftMs} exceeds maxClockSkewMs (${maxClockSkewMs}): a clock may not follow a peer further than it accepts`,
    );
  }
  return Object.freeze(result.data);
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** Variables for the test and benchmark harnesses, which share the REGSYNC_ namespace. */
const RESERVED_ENV_PREFIXES = ["REGSYNC_TEST_", "REGSYNC_BENCH_"];

/** `REGSYNC_SYNC_INTERVAL_MS=500` → `syncIntervalMs: 500`. Values are JSON when they parse as
 * JSON, else strings; list settings also take comma-separated values. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const known = new Map(Object.keys(NodeConfigSchema.shape).map((k) => [toEnvName(k), k]));
  const out: Record<string, unknown> = {};
  const unknown: string[] = [];
  const shortcuts: [(typeof CREDENTIAL_SHORTCUTS)[number], string][] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("REGSYNC_") || value === undefined) continue;
    if (RESERVED_ENV_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    const shortcut = CREDENTIAL_SHORTCUTS.find((c) => c.env === name);
    if (shortcut !== undefined) {
      shortcuts.push([shortcut, value]);
      continue;
    }
    const key = known.get(name);
    if (key === undefined) {
      unknown.push(name);
      continue;
    }
    out[key] = coerceSetting(key, value);
  }
  if (unknown.length > 0) {
    throw new ConfigError(`unknown environment setting(s): ${unknown.join(", ")}`);
  }
  // REGSYNC_USER and friends refine REGSYNC_NATS_AUTH / REGSYNC_TLS rather than replace them.
  for (const [shortcut, value] of shortcuts) setShortcut(out, shortcut, value);
  return out;
}

/** The names of every setting, for building flags and environment variables from the schema. */
export function settingNames(): string[] {
  return Object.keys(NodeConfigSchema.shape);
}

export function isListSetting(key: string): boolean {
  return ARRAY_KEYS.has(key);
}

export function isBooleanSetting(key: string): boolean {
  return typeof (DEFAULTS as Record<string, unknown>)[key] === "boolean";
}

export function toEnvName(key: string): string {
  return `REGSYNC_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** Environment values and flags are text; settings whose default is not a string are read as
 * JSON, and list settings also take comma-separated values: `a,b`, or `n1=a,n2=b` for a map
 * (trustedPeers). */
export function coerceSetting(key: string, value: string): unknown {
  const text = value.trimStart();
  if (ARRAY_KEYS.has(key) && !text.startsWith("[") && !text.startsWith("{")) {
    const items = value
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v.length > 0);
    if (items.length === 0 || !items.every((v) => v.includes("="))) return items;
    return Object.fromEntries(
      items.map((v) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]),
    );
  }
  const fallback = (DEFAULTS as Record<string, unknown>)[key];
  if (!OBJECT_SETTINGS.has(key) && (fallback === undefined || typeof fallback === "string")) {
    return value;
  }
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

const DEFAULTS = NodeConfigSchema.parse({});
