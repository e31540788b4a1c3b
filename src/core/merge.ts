import { compareSameVersion, type EntryRecord, type EntryState, entryRecord } from "./entry.js";

/**
 * How two versions of the same key are ordered. Every strategy must be a total order that
 * depends only on the two entries, so "keep the greater" is commutative, associative and
 * idempotent and replicas that saw the same writes in any order converge.
 *
 * Returns > 0 when `a` wins, < 0 when `b` wins, 0 only for the very same version.
 */
export type EntryOrder = (a: EntryState, b: EntryState) => number;

/**
 * A merge function supplied by code that embeds regsync: given two versions of one key, return
 * the one to keep. It is always called with its arguments in a canonical order, so it cannot be
 * order-dependent by accident; it must still be a deterministic, associative choice.
 */
export type CustomMerge = (a: EntryRecord, b: EntryRecord) => EntryRecord;

export const CONFLICT_STRATEGIES = ["lww", "version"] as const;
export type ConflictStrategyName = (typeof CONFLICT_STRATEGIES)[number];
export type ConflictResolution = ConflictStrategyName | CustomMerge;

/** Last writer wins: (hlc, node), a total order because one node never reuses a timestamp. */
export const lww: EntryOrder = (a, b) => {
  if (a.hlc !== b.hlc) return a.hlc > b.hlc ? 1 : -1;
  if (a.node === b.node) return 0;
  return a.node > b.node ? 1 : -1;
};

/** Higher instance `version` wins; equal versions fall back to last writer wins. */
export const byInstanceVersion: EntryOrder = (a, b) =>
  compareVersionStrings(a.ver, b.ver) || lww(a, b);

/**
 * Orders version strings such as `1.10.0-rc.2`: split into runs of digits and of other
 * characters, numeric runs compare as numbers and sort before text runs, and a prefix sorts
 * first. A total order on the token sequence, which is all the merge needs.
 */
export function compareVersionStrings(a: string, b: string): number {
  if (a === b) return 0;
  const ta = a.match(/\d+|[^\d.\-+]+/g) ?? [];
  const tb = b.match(/\d+|[^\d.\-+]+/g) ?? [];
  const n = Math.min(ta.length, tb.length);
  for (let i = 0; i < n; i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    if (x === y) continue;
    const xNum = /^\d/.test(x);
    const yNum = /^\d/.test(y);
    if (xNum && yNum) {
      const diff = compareDigits(x, y);
      if (diff !== 0) return diff;
    } else if (xNum !== yNum) {
      return xNum ? -1 : 1;
    } else {
      return x > y ? 1 : -1;
    }
  }
  if (ta.length !== tb.length) return ta.length > tb.length ? 1 : -1;
  // Same tokens, different separators ("1.0" vs "1-0"): still a deterministic order.
  return a > b ? 1 : -1;
}

function compareDigits(x: string, y: string): number {
  const a = x.replace(/^0+(?=\d)/, "");
  const b = y.replace(/^0+(?=\d)/, "");
  if (a.length !== b.length) return a.length > b.length ? 1 : -1;
  if (a === b) return 0;
  return a > b ? 1 : -1;
}

/** Turns a user's merge function into an order, calling it with canonically ordered arguments. */
export function orderFromCustom(merge: CustomMerge): EntryOrder {
  return (a, b) => {
    const base = lww(a, b);
    if (base === 0) return 0;
    // The function sees whole records, lease fields included, as they travel.
    const [lo, hi] = base < 0 ? [entryRecord(a), entryRecord(b)] : [entryRecord(b), entryRecord(a)];
    const winner = merge(lo, hi);
    if (winner !== lo && winner !== hi) {
      throw new TypeError("custom merge must return one of its two arguments");
    }
    const aWins = base > 0 ? winner === hi : winner === lo;
    return aWins ? 1 : -1;
  };
}

/**
 * The order a store merges by: the strategy, then, for the same version with different content
 * (which no correct node writes, but a faulty one can), the greater entry hash. Without this
 * tie-break both replicas would keep their own content forever, each seeing the other's as
 * "not newer"; with it, every replica keeps the same one, whatever order they arrive in.
 */
export function entryOrder(resolution: ConflictResolution): EntryOrder {
  const strategy =
    typeof resolution === "function"
      ? orderFromCustom(resolution)
      : resolution === "version"
        ? byInstanceVersion
        : lww;
  return (a, b) => strategy(a, b) || compareSameVersion(a, b);
}
