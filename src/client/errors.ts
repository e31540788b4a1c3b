import { type ErrorCode, isErrorCode, type ValidationIssue } from "../contract/errors.js";
import { NamedError } from "../core/named-error.js";

/** A failed registry call: the node's error code, or `unavailable` when no node answered. */
export class RegistryClientError extends NamedError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues: ValidationIssue[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Worth retrying: no node answered, or the one that did could not serve yet. */
  get transient(): boolean {
    return this.code === "unavailable" || this.code === "internal";
  }
}

interface ErrorReply {
  ok: false;
  error: { code: unknown; message?: unknown; issues?: unknown };
}

export function isErrorReply(value: unknown): value is ErrorReply {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { ok?: unknown }).ok === false &&
    typeof (value as { error?: unknown }).error === "object"
  );
}

export function errorFromReply(reply: ErrorReply): RegistryClientError {
  const code = isErrorCode(reply.error.code) ? reply.error.code : "internal";
  const message = typeof reply.error.message === "string" ? reply.error.message : code;
  const issues = Array.isArray(reply.error.issues) ? (reply.error.issues as ValidationIssue[]) : [];
  return new RegistryClientError(code, message, issues);
}
