import { ReconcileError } from "./errors.js";
import {
  DEFAULT_FINGERPRINT_BYTES,
  MAX_FINGERPRINT_BYTES,
  MIN_FINGERPRINT_BYTES,
} from "./fingerprint.js";

/**
 * Split a mismatched range 2^4 = 16 ways. With N = 1M a leaf of ~15 items is 4 levels down, so a
 * single difference takes 6 messages (3 round trips) and ~16 fingerprints per level and side;
 * 256 ways would save one message at N = 1M but cost 16 times the bytes per level.
 */
export const DEFAULT_BRANCH_BITS = 4;
/**
 * A side holding at most this many items in a mismatched range lists them instead of splitting
 * the range again. 32 is twice a leaf's mean at N = 1M (15.3): a leaf above it (a Poisson tail
 * of 10^-4) would cost another round trip, and listing more would cost bytes per difference.
 */
export const DEFAULT_ITEM_LIST_MAX = 32;
/**
 * A responder that receives an item list compares it with its own items when it holds at most
 * this many in the range (else it splits the range): a peer that lacks much of a range then
 * learns it in fewer rounds, at up to this many key hashes in one record.
 */
export const DEFAULT_DIFF_MAX = 256;
/**
 * The NATS default max payload (1 MiB) minus 16 KiB of headroom for the sync envelope (headers,
 * checksum, signature, node ids) wrapped around a reconciliation message.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 - 16 * 1024;
/** Upper bound of a message's msgpack envelope around its ranges: fields, tags, bin header. */
export const MESSAGE_OVERHEAD_BYTES = 96;

export const MIN_BRANCH_BITS = 1;
export const MAX_BRANCH_BITS = 8;
export const MAX_ITEM_LIST_MAX = 1024;
export const MAX_DIFF_MAX = 65_536;

/** The tunables both sides of a session use; the initiator chooses them and sends them along. */
export interface SessionParams {
  /** A mismatched range splits into 2^branchBits children. @default 4 */
  branchBits: number;
  /** Bytes of every range fingerprint and item tag, a multiple of 4. @default 4 */
  fingerprintBytes: number;
  /** Most items a side lists instead of splitting a range. @default 32 */
  itemListMax: number;
  /** Most own items a responder compares with a received list instead of splitting. @default 256 */
  diffMax: number;
}

export interface ReconcileOptions extends Partial<SessionParams> {
  /**
   * No message of the session, msgpack-encoded, exceeds this; work that does not fit goes into
   * the next round. @default 1 MiB - 16 KiB
   */
  maxMessageBytes?: number;
}

export const DEFAULT_SESSION_PARAMS: Readonly<SessionParams> = Object.freeze({
  branchBits: DEFAULT_BRANCH_BITS,
  fingerprintBytes: DEFAULT_FINGERPRINT_BYTES,
  itemListMax: DEFAULT_ITEM_LIST_MAX,
  diffMax: DEFAULT_DIFF_MAX,
});

/** Checks session parameters (from options or from a peer's query); throws ReconcileError. */
export function checkSessionParams(params: SessionParams): SessionParams {
  const { branchBits, fingerprintBytes, itemListMax, diffMax } = params;
  const intIn = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  if (!intIn(branchBits, MIN_BRANCH_BITS, MAX_BRANCH_BITS)) {
    throw new ReconcileError(
      "bad_params",
      `branchBits must be ${MIN_BRANCH_BITS}..${MAX_BRANCH_BITS}`,
    );
  }
  if (
    !intIn(fingerprintBytes, MIN_FINGERPRINT_BYTES, MAX_FINGERPRINT_BYTES) ||
    fingerprintBytes % 4 !== 0
  ) {
    throw new ReconcileError("bad_params", "fingerprintBytes must be 4, 8, 12 or 16");
  }
  if (!intIn(itemListMax, 1, MAX_ITEM_LIST_MAX)) {
    throw new ReconcileError("bad_params", `itemListMax must be 1..${MAX_ITEM_LIST_MAX}`);
  }
  if (!intIn(diffMax, itemListMax, MAX_DIFF_MAX)) {
    throw new ReconcileError("bad_params", `diffMax must be itemListMax..${MAX_DIFF_MAX}`);
  }
  return params;
}

/**
 * The smallest message budget with which every round makes progress: the largest reply one
 * query range can need (each of its children answered by a full item list) plus the envelope.
 */
export function minMessageBytes(params: SessionParams): number {
  const fanout = 1 << params.branchBits;
  const prefix = 8;
  const itemList = 2 + prefix + 3 + params.itemListMax * (8 + params.fingerprintBytes);
  const split = 2 + prefix + fanout * params.fingerprintBytes;
  const perChild = Math.max(itemList, split);
  const diff = 2 + prefix + 6 + (params.itemListMax + params.diffMax) * 8;
  return MESSAGE_OVERHEAD_BYTES + Math.max(fanout * perChild, diff, itemList);
}

export function resolveOptions(options: ReconcileOptions = {}): {
  params: SessionParams;
  maxMessageBytes: number;
} {
  const params = checkSessionParams({
    branchBits: options.branchBits ?? DEFAULT_BRANCH_BITS,
    fingerprintBytes: options.fingerprintBytes ?? DEFAULT_FINGERPRINT_BYTES,
    itemListMax: options.itemListMax ?? DEFAULT_ITEM_LIST_MAX,
    diffMax: options.diffMax ?? DEFAULT_DIFF_MAX,
  });
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const floor = minMessageBytes(params);
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < floor) {
    throw new ReconcileError(
      "bad_params",
      `maxMessageBytes must be an integer of at least ${floor} for these parameters`,
    );
  }
  return { params, maxMessageBytes };
}
