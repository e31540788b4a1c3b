import { NamedError } from "../named-error.js";

/**
 * Why a reconciliation session failed. The codes are stable (metrics and logs count them); only
 * append. A failed session changes nothing: the node may start another one later.
 */
export const RECONCILE_ERROR_CODES = {
  bad_params: "session parameters out of range (options, or a peer's query)",
  bad_message: "a message that does not decode: truncated, malformed, or out of bounds",
  unsupported_version: "a message of a protocol version this node does not speak",
  range_too_large: "one range needs more than a whole message (keys colliding on all 64 bits)",
  session_misuse: "a session method called out of order (e.g. process before initiate)",
} as const;

export type ReconcileErrorCode = keyof typeof RECONCILE_ERROR_CODES;

export class ReconcileError extends NamedError {
  constructor(
    readonly code: ReconcileErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
