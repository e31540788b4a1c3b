import { NatsError } from "nats";

/**
 * Why a connection to NATS failed, in words an operator acts on: refused (nothing listens
 * there), TLS (certificates), auth (credentials), not found (DNS), timeout. nats.js reports these
 * as assorted error codes and socket errors; this is the one place that reads them.
 */
export function connectFailureCause(error: unknown, timeoutMs?: number): string {
  const e = error as { code?: unknown; message?: unknown; hostname?: unknown };
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : String(error);
  if (error instanceof NatsError) {
    if (code === "CONNECTION_REFUSED") return "connection refused (is nats-server running there?)";
    if (code === "TIMEOUT") {
      return timeoutMs === undefined ? "timed out" : `no answer within ${timeoutMs} ms`;
    }
    if (code === "AUTHORIZATION_VIOLATION" || code === "AUTHENTICATION_EXPIRED") {
      return "authorization violation: the server refused these credentials (user/password, token, nkey or creds)";
    }
    if (/tls/i.test(message)) return `TLS: ${message}`;
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `host not found${typeof e.hostname === "string" ? ` (${e.hostname})` : ""}`;
  }
  if (code === "ECONNREFUSED") return "connection refused (is nats-server running there?)";
  if (code === "ERR_INVALID_URL") return "not a valid URL";
  if (
    /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME_MISMATCH/.test(code) ||
    /certificate|tls|ssl/i.test(message)
  ) {
    return `TLS: ${message}`;
  }
  if (code === "ECONNRESET" || code === "EPIPE") {
    return `connection reset by the server (${code}; a server that requires TLS or client certificates closes plain or certificate-less connections)`;
  }
  if (code === "ENOENT" || code === "EACCES") return message;
  return message;
}
