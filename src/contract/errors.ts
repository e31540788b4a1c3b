import { NamedError } from "../core/named-error.js";

/**
 * The client API's error codes (DESIGN.md §2). The codes are a contract: clients branch on
 * them, so they only grow. Each carries the number sent in the NATS micro
 * `Nats-Service-Error-Code` header, chosen to read like its HTTP counterpart.
 */
export const ERROR_CODES = {
  invalid_request: { status: 400, meaning: "the request failed validation; `issues` says why" },
  not_found: { status: 404, meaning: "unknown or expired instance: register it again" },
  payload_too_large: {
    status: 413,
    meaning: "the request, an instance or a reply exceeds a size limit; the message names it",
  },
  quota_exceeded: {
    status: 429,
    meaning: "a configured quota is reached (instances per service, services, registrations/s)",
  },
  unavailable: {
    status: 503,
    meaning: "the node cannot serve this now (starting, stopping, not bootstrapped)",
  },
  internal: { status: 500, meaning: "a fault inside the node; the request may be retried" },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ValidationIssue {
  path: string;
  message: string;
}

/** An error the API reports to its caller with a stable code. */
export class RegistryError extends NamedError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues?: ValidationIssue[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  toJSON(): { ok: false; error: { code: ErrorCode; message: string; issues?: ValidationIssue[] } } {
    const error: { code: ErrorCode; message: string; issues?: ValidationIssue[] } = {
      code: this.code,
      message: this.message,
    };
    if (this.issues !== undefined) error.issues = this.issues;
    return { ok: false, error };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}
