/**
 * The initiator's side of a reconciliation session: a state machine that produces queries and
 * consumes replies until it knows every key that differs. It moves no bytes itself.
 *
 *     const session = new ReconcileSession(index, { salt });
 *     let query = session.start();
 *     while (query) {
 *       const reply = await ask(peer, query);        // the node's transport
 *       const step = session.process(reply);
 *       push(step.have); fetch(step.need);           // may start before the session ends
 *       query = step.query;
 *     }
 */
import { ReconcileError } from "./errors.js";
import { type KeyHash, toKeyHash } from "./key-hash.js";
import {
  paramsToWire,
  parseReply,
  RECONCILE_PROTOCOL_VERSION,
  type ReconcileQuery,
} from "./messages.js";
import {
  MESSAGE_OVERHEAD_BYTES,
  type ReconcileOptions,
  resolveOptions,
  type SessionParams,
} from "./params.js";
import { ROOT } from "./range-node.js";
import { RangeSide } from "./range-side.js";
import type { ReconIndex, ReconItem } from "./recon-index.js";
import { decodeRecords, RecordWriter } from "./records.js";

export interface SessionOptions extends ReconcileOptions {
  /**
   * Keys this session's fingerprints and tags (uint32). Pass a fresh random value per session
   * (crypto.randomInt): a fingerprint collision, rare already, then never repeats.
   */
  salt: number;
  /**
   * Keep every key found in `have` and `need` (the default). A caller that acts on each step's
   * keys as they come passes false, so the session holds no more than one step's worth.
   */
  retainKeys?: boolean;
}

export interface ReconcileStep {
  /** The next query to send, or undefined when the session is done. */
  query?: ReconcileQuery;
  done: boolean;
  /** Keys learnt in this step where the initiator holds a version the responder lacks: push. */
  have: KeyHash[];
  /** Keys learnt in this step where the responder holds a version the initiator lacks: fetch. */
  need: KeyHash[];
}

const SESSION_STATES = ["new", "waiting", "done"] as const;
type SessionState = (typeof SESSION_STATES)[number];

export class ReconcileSession<T extends ReconItem = ReconItem> {
  readonly params: SessionParams;
  readonly maxMessageBytes: number;
  readonly salt: number;
  /** Queries produced so far: the session's round trips. */
  queries = 0;
  private readonly side: RangeSide<T>;
  /** Encoded ranges waiting to be sent, oldest first. */
  private pending: Uint8Array[] = [];
  private inFlight: Uint8Array[] = [];
  private inFlightSizes: number[] = [];
  /** Body bytes the next query may carry: lowered after a partial reply, so the reply fits. */
  private queryCap: number;
  private state: SessionState = "new";
  private readonly allHave: KeyHash[] = [];
  private readonly allNeed: KeyHash[] = [];
  private readonly retainKeys: boolean;

  constructor(
    readonly index: ReconIndex<T>,
    options: SessionOptions,
  ) {
    const { params, maxMessageBytes } = resolveOptions(options);
    if (!Number.isInteger(options.salt) || options.salt < 0 || options.salt > 0xffff_ffff) {
      throw new ReconcileError("bad_params", "salt must be a uint32");
    }
    this.params = params;
    this.maxMessageBytes = maxMessageBytes;
    this.salt = options.salt;
    this.retainKeys = options.retainKeys ?? true;
    this.side = new RangeSide(index, params, options.salt);
    this.queryCap = maxMessageBytes - MESSAGE_OVERHEAD_BYTES;
  }

  /** Every key found so far where the initiator holds a version the responder lacks. */
  get have(): readonly KeyHash[] {
    return this.allHave;
  }

  /** Every key found so far where the responder holds a version the initiator lacks. */
  get need(): readonly KeyHash[] {
    return this.allNeed;
  }

  get done(): boolean {
    return this.state === "done";
  }

  /** The first query: the whole key space, as an item list or as 2^branchBits fingerprints. */
  start(): ReconcileQuery {
    if (this.state !== "new") throw new ReconcileError("session_misuse", "start() called twice");
    const out = new RecordWriter();
    this.side.describe(ROOT, out);
    this.pending.push(...out.records());
    this.state = "waiting";
    return this.nextQuery();
  }

  /** Consumes the reply to the last query; returns the next query, or done. */
  process(message: unknown): ReconcileStep {
    if (this.state !== "waiting") {
      throw new ReconcileError("session_misuse", `process() in state ${this.state}`);
    }
    const reply = parseReply(message, this.inFlight.length);
    const records = decodeRecords(
      reply.ranges,
      this.params.branchBits,
      this.params.fingerprintBytes,
    );
    const step: ReconcileStep = { done: false, have: [], need: [] };
    const out = new RecordWriter();
    for (const record of records) {
      if (record.kind === "fingerprints") {
        this.side.answerFingerprints(record, out);
      } else if (record.kind === "items") {
        // Comparing locally costs no message, however many items this side holds there.
        const diff = this.side.compareItems(record);
        collect(diff.has, step.have);
        collect(diff.needs, step.need);
      } else {
        collect(record.has, step.need);
        collect(record.needs, step.have);
      }
    }
    // Ranges the responder had no room for go first, then the new ones.
    const unanswered = this.inFlight.slice(reply.handled);
    this.pending = [...unanswered, ...this.pending, ...out.records()];
    this.adjustCap(reply.handled, unanswered.length);
    this.inFlight = [];
    if (this.retainKeys) {
      for (const key of step.have) this.allHave.push(key);
      for (const key of step.need) this.allNeed.push(key);
    }
    if (this.pending.length === 0) {
      this.state = "done";
      step.done = true;
      return step;
    }
    step.query = this.nextQuery();
    return step;
  }

  private adjustCap(handled: number, unanswered: number): void {
    const full = this.maxMessageBytes - MESSAGE_OVERHEAD_BYTES;
    if (unanswered === 0) {
      this.queryCap = Math.min(full, this.queryCap * 2);
      return;
    }
    // The responder's reply filled up after `handled` ranges: ask for about that much next.
    let answeredBytes = 0;
    for (let i = 0; i < handled; i++) answeredBytes += this.inFlightSizes[i]!;
    this.queryCap = Math.max(1, answeredBytes);
  }

  private nextQuery(): ReconcileQuery {
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    let taken = 0;
    while (taken < this.pending.length) {
      const chunk = this.pending[taken]!;
      if (chunks.length > 0 && bytes + chunk.length > this.queryCap) break;
      if (chunk.length + MESSAGE_OVERHEAD_BYTES > this.maxMessageBytes) {
        throw new ReconcileError(
          "range_too_large",
          "one range's item list exceeds maxMessageBytes",
        );
      }
      chunks.push(chunk);
      bytes += chunk.length;
      taken++;
    }
    this.pending = this.pending.slice(taken);
    const ranges = new Uint8Array(bytes);
    let at = 0;
    for (const chunk of chunks) {
      ranges.set(chunk, at);
      at += chunk.length;
    }
    this.inFlight = chunks;
    this.inFlightSizes = chunks.map((c) => c.length);
    this.queries++;
    return {
      v: RECONCILE_PROTOCOL_VERSION,
      type: "recon.query",
      salt: this.salt,
      params: paramsToWire(this.params),
      ranges,
    };
  }
}

function collect(pairs: ArrayLike<number>, into: KeyHash[]): void {
  for (let i = 0; i < pairs.length; i += 2) into.push(toKeyHash(pairs[i]!, pairs[i + 1]!));
}
