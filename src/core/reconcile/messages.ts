/**
 * Reconciliation messages as they travel (msgpack-encoded by the node): plain objects whose
 * ranges are one binary field (records.ts). A query goes from the initiator to the responder,
 * a reply comes back; the responder keeps no state between them, so every query carries the
 * session's salt and parameters.
 */
import { ReconcileError } from "./errors.js";
import { checkSessionParams, type SessionParams } from "./params.js";

/** The protocol version this code speaks. Only grows; a responder refuses versions it lacks. */
export const RECONCILE_PROTOCOL_VERSION = 1;

export const RECONCILE_MESSAGE_TYPES = ["recon.query", "recon.reply"] as const;
export type ReconcileMessageType = (typeof RECONCILE_MESSAGE_TYPES)[number];

export interface ReconcileQuery {
  v: number;
  type: "recon.query";
  /** Per-session key of fingerprints and item tags (uint32), chosen at random by the initiator. */
  salt: number;
  /** The session's parameters: [branchBits, fingerprintBytes, itemListMax, diffMax]. */
  params: number[];
  ranges: Uint8Array;
}

export interface ReconcileReply {
  v: number;
  type: "recon.reply";
  /** How many of the query's ranges this reply answers; the initiator sends the rest again. */
  handled: number;
  ranges: Uint8Array;
}

export type ReconcileMessage = ReconcileQuery | ReconcileReply;

export function paramsToWire(p: SessionParams): number[] {
  return [p.branchBits, p.fingerprintBytes, p.itemListMax, p.diffMax];
}

export function paramsFromWire(wire: unknown): SessionParams {
  if (!Array.isArray(wire) || wire.length < 4 || !wire.every((n) => typeof n === "number")) {
    throw new ReconcileError("bad_message", "params must be an array of 4 numbers");
  }
  const [branchBits, fingerprintBytes, itemListMax, diffMax] = wire as number[];
  return checkSessionParams({
    branchBits: branchBits!,
    fingerprintBytes: fingerprintBytes!,
    itemListMax: itemListMax!,
    diffMax: diffMax!,
  });
}

function checkEnvelope(value: unknown, type: ReconcileMessageType): Record<string, unknown> {
  if (typeof value !== "object" || value === null) {
    throw new ReconcileError("bad_message", "a reconcile message must be an object");
  }
  const message = value as Record<string, unknown>;
  if (typeof message.v !== "number" || !Number.isInteger(message.v)) {
    throw new ReconcileError("bad_message", "missing protocol version");
  }
  if (message.v !== RECONCILE_PROTOCOL_VERSION) {
    throw new ReconcileError(
      "unsupported_version",
      `reconcile protocol version ${message.v}; this node speaks ${RECONCILE_PROTOCOL_VERSION}`,
    );
  }
  if (message.type !== type) throw new ReconcileError("bad_message", `expected a ${type}`);
  if (!(message.ranges instanceof Uint8Array)) {
    throw new ReconcileError("bad_message", "ranges must be binary");
  }
  return message;
}

/** Checks a decoded query's envelope (the ranges are checked as they are decoded). */
export function parseQuery(value: unknown): { query: ReconcileQuery; params: SessionParams } {
  const message = checkEnvelope(value, "recon.query");
  const salt = message.salt;
  if (typeof salt !== "number" || !Number.isInteger(salt) || salt < 0 || salt > 0xffff_ffff) {
    throw new ReconcileError("bad_message", "salt must be a uint32");
  }
  const params = paramsFromWire(message.params);
  return { query: message as unknown as ReconcileQuery, params };
}

export function parseReply(value: unknown, sentRanges: number): ReconcileReply {
  const message = checkEnvelope(value, "recon.reply");
  const handled = message.handled;
  if (
    typeof handled !== "number" ||
    !Number.isInteger(handled) ||
    handled < 0 ||
    handled > sentRanges
  ) {
    throw new ReconcileError("bad_message", `handled must be 0..${sentRanges}`);
  }
  if (handled === 0 && sentRanges > 0) {
    throw new ReconcileError("bad_message", "a reply must answer at least one range");
  }
  return message as unknown as ReconcileReply;
}
