/**
 * The responder's side of a reconciliation session: a pure function from its index and a query
 * to a reply. It keeps no state between queries, so any query can be answered on its own (and
 * by whichever handler NATS delivers it to).
 */
import { ReconcileError } from "./errors.js";
import { type KeyHash, toKeyHash } from "./key-hash.js";
import { parseQuery, RECONCILE_PROTOCOL_VERSION, type ReconcileReply } from "./messages.js";
import { DEFAULT_MAX_MESSAGE_BYTES, MESSAGE_OVERHEAD_BYTES, minMessageBytes } from "./params.js";
import { type RangeDiff, RangeSide } from "./range-side.js";
import type { ReconIndex, ReconItem } from "./recon-index.js";
import { decodeRecords, RecordWriter } from "./records.js";

export interface RespondOptions {
  /** The reply, msgpack-encoded, stays within this. @default 1 MiB - 16 KiB */
  maxMessageBytes?: number;
}

export interface RespondResult {
  reply: ReconcileReply;
  /** Keys where the responder holds a version the initiator lacks (it will fetch them). */
  have: KeyHash[];
  /** Keys where the initiator holds a version the responder lacks (it will push them). */
  need: KeyHash[];
}

/**
 * Answers a query: compares the initiator's fingerprints and item lists with `index` and writes
 * what the initiator needs next. Ranges are answered in order until the reply would exceed
 * `maxMessageBytes`; `handled` tells the initiator which ones to send again. The responder
 * learns the differences found in the item lists it compared (`have`, `need`); the others the
 * initiator finds itself and acts on (pushing and fetching), which tells the responder anyway.
 *
 * Throws ReconcileError for a malformed query, an unknown version or bad parameters.
 */
export function respond<T extends ReconItem>(
  index: ReconIndex<T>,
  message: unknown,
  options: RespondOptions = {},
): RespondResult {
  const { query, params } = parseQuery(message);
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (maxMessageBytes < minMessageBytes(params)) {
    throw new ReconcileError(
      "bad_params",
      "the query's parameters need larger messages than allowed",
    );
  }
  const budget = maxMessageBytes - MESSAGE_OVERHEAD_BYTES;
  const records = decodeRecords(query.ranges, params.branchBits, params.fingerprintBytes);
  const side = new RangeSide(index, params, query.salt);
  const out = new RecordWriter();
  const diffs: RangeDiff[] = [];
  let handled = 0;
  for (const record of records) {
    const mark = out.length;
    let diff: RangeDiff | undefined;
    if (record.kind === "fingerprints") {
      side.answerFingerprints(record, out);
    } else if (record.kind === "items") {
      const node = record.node;
      if (node.bits >= 64 || index.countUnder(node) <= params.diffMax) {
        diff = side.compareItems(record);
        if (diff.has.length + diff.needs.length > 0) out.diff(node, diff.has, diff.needs);
      } else {
        // Too many of our own to list back: split, and the initiator lists its few per child.
        side.split(node, out);
      }
    } else {
      throw new ReconcileError("bad_message", "a query cannot carry a diff");
    }
    if (out.length > budget) {
      if (handled === 0) {
        throw new ReconcileError(
          "range_too_large",
          "the first range's answer exceeds maxMessageBytes",
        );
      }
      out.truncate(mark);
      break;
    }
    if (diff !== undefined) diffs.push(diff);
    handled++;
  }
  const have: KeyHash[] = [];
  const need: KeyHash[] = [];
  for (const diff of diffs) {
    for (let i = 0; i < diff.has.length; i += 2)
      have.push(toKeyHash(diff.has[i]!, diff.has[i + 1]!));
    for (let i = 0; i < diff.needs.length; i += 2)
      need.push(toKeyHash(diff.needs[i]!, diff.needs[i + 1]!));
  }
  return {
    reply: { v: RECONCILE_PROTOCOL_VERSION, type: "recon.reply", handled, ranges: out.bytes() },
    have,
    need,
  };
}
