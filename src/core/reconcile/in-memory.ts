/**
 * Runs a whole session between two indexes in one process: for tests, benchmarks and a node's
 * self-checks. The messages go through `codec` (e.g. msgpackr) when one is given, so sizes and
 * wire round-trips are those of the real thing.
 */

import { ReconcileSession } from "./initiator.js";
import type { KeyHash } from "./key-hash.js";
import type { ReconcileQuery } from "./messages.js";
import type { ReconcileOptions } from "./params.js";
import type { ReconIndex, ReconItem } from "./recon-index.js";
import { type RespondResult, respond } from "./responder.js";

export interface MessageCodec {
  encode(message: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

export interface InMemoryRun {
  /** Keys where the initiator holds a version the responder lacks. */
  have: KeyHash[];
  /** Keys where the responder holds a version the initiator lacks. */
  need: KeyHash[];
  /** What the responder learnt itself (a subset of the above, seen from its side). */
  responderHave: KeyHash[];
  responderNeed: KeyHash[];
  roundTrips: number;
  /** Encoded sizes, one per message (0 without a codec). */
  queryBytes: number[];
  replyBytes: number[];
}

/** Bounds a run: far more round trips than any correct session takes. */
const MAX_ROUND_TRIPS = 10_000;

export function reconcileInMemory<T extends ReconItem>(
  initiator: ReconIndex<T>,
  responder: ReconIndex<T>,
  options: ReconcileOptions & { salt: number },
  codec?: MessageCodec,
): InMemoryRun {
  const run: InMemoryRun = {
    have: [],
    need: [],
    responderHave: [],
    responderNeed: [],
    roundTrips: 0,
    queryBytes: [],
    replyBytes: [],
  };
  const wire = (message: unknown, sizes: number[]): unknown => {
    if (codec === undefined) {
      sizes.push(0);
      return message;
    }
    const bytes = codec.encode(message);
    sizes.push(bytes.length);
    return codec.decode(bytes);
  };
  const session = new ReconcileSession(initiator, options);
  let query: ReconcileQuery | undefined = session.start();
  while (query !== undefined) {
    if (run.roundTrips === MAX_ROUND_TRIPS) {
      throw new Error(`reconciliation did not finish in ${MAX_ROUND_TRIPS} round trips`);
    }
    run.roundTrips++;
    const answered: RespondResult = respond(responder, wire(query, run.queryBytes), options);
    // One at a time: spreading a step of ~100k keys into push() overflows the call stack.
    for (const key of answered.have) run.responderHave.push(key);
    for (const key of answered.need) run.responderNeed.push(key);
    query = session.process(wire(answered.reply, run.replyBytes)).query;
  }
  run.have = [...session.have];
  run.need = [...session.need];
  return run;
}
