/**
 * Shortcuts for the NATS credentials of a node, as flags (`--user`) and variables
 * (`REGSYNC_USER`) with the names the CLI and NATS tools use, beside the nested settings they
 * fill (`natsAuth.user`). The whole objects are settings too (`REGSYNC_TLS='{"ca":"…"}'`).
 */
export const CREDENTIAL_SHORTCUTS = [
  { flag: "user", env: "REGSYNC_USER", group: "natsAuth", key: "user" },
  { flag: "password", env: "REGSYNC_PASSWORD", group: "natsAuth", key: "pass" },
  { flag: "token", env: "REGSYNC_TOKEN", group: "natsAuth", key: "token" },
  { flag: "nkey", env: "REGSYNC_NKEY", group: "natsAuth", key: "nkeySeedFile" },
  { flag: "creds", env: "REGSYNC_CREDS", group: "natsAuth", key: "credsFile" },
  { flag: "tls-ca", env: "REGSYNC_TLS_CA", group: "tls", key: "ca" },
  { flag: "tls-cert", env: "REGSYNC_TLS_CERT", group: "tls", key: "cert" },
  { flag: "tls-key", env: "REGSYNC_TLS_KEY", group: "tls", key: "key" },
] as const;

export type CredentialShortcut = (typeof CREDENTIAL_SHORTCUTS)[number];

/** Settings whose value is an object: merged key by key across sources, not replaced. */
export const OBJECT_SETTINGS = new Set(["natsAuth", "tls"]);

/** Sets `group.key` in `target`, keeping what the group already holds. */
export function setShortcut(
  target: Record<string, unknown>,
  shortcut: CredentialShortcut,
  value: string,
): void {
  const group = (target[shortcut.group] ?? {}) as Record<string, unknown>;
  target[shortcut.group] = { ...group, [shortcut.key]: value };
}

/** Merges config sources, lowest precedence first; object settings merge key by key. */
export function mergeSources(...sources: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const source of sources) {
    for (const [key, value] of Object.entries(source)) {
      const current = out[key];
      out[key] =
        OBJECT_SETTINGS.has(key) && isPlainObject(current) && isPlainObject(value)
          ? { ...current, ...value }
          : value;
    }
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
