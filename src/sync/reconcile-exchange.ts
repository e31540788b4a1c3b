import { randomInt } from "node:crypto";
import type { Msg, NatsConnection } from "nats";
import { z } from "zod";
import { NODE_ID } from "../config/schema.js";
import {
  type Entry,
  type EntryRecord,
  estimateRecordBytes,
  type RegistryStore,
} from "../core/mod.js";
import {
  type KeyHash,
  keyHashHigh,
  keyHashLow,
  packKeyHashes,
  ReconcileSession,
  respond,
  unpackKeyHashes,
} from "../core/reconcile/mod.js";
import { fromTuples, toTuple } from "./entry-codec.js";
import { ErrorReplySchema, errorReply, PROTOCOL_VERSION, parseMessage } from "./messages.js";

/**
 * Differential reconciliation between two nodes over NATS request-reply (DESIGN.md §4.3): the
 * initiator runs a ReconcileSession against the peer's `reconcile` subject, learns which keys
 * differ, fetches the peer's versions of those and pushes its own. Cost grows with the number
 * of differences, not with the registry size.
 */
const nodeId = z.string().regex(NODE_ID);
const ReconRequest = z.object({
  type: z.literal("recon"),
  v: z.int().min(1),
  node: nodeId,
  query: z.unknown(),
});
const FetchRequest = z.object({
  type: z.literal("fetch"),
  v: z.int().min(1),
  node: nodeId,
  keys: z.instanceof(Uint8Array),
});
const PushRequest = z.object({
  type: z.literal("push"),
  v: z.int().min(1),
  node: nodeId,
  entries: z.array(z.unknown()),
});
const ExchangeRequest = z.discriminatedUnion("type", [ReconRequest, FetchRequest, PushRequest]);

const ReconReply = z.object({
  type: z.literal("recon-reply"),
  v: z.int().min(1),
  node: nodeId,
  epoch: z.string().min(1).max(64),
  seq: z.int().min(0),
  reply: z.unknown(),
});
const EntriesReply = z.object({
  type: z.literal("entries"),
  v: z.int().min(1),
  node: nodeId,
  /** How many of the requested keys this reply covers; the rest are asked for again. */
  served: z.int().min(0),
  entries: z.array(z.unknown()),
});
const PushedReply = z.object({
  type: z.literal("pushed"),
  v: z.int().min(1),
  node: nodeId,
  applied: z.int().min(0),
});

/** Keys per fetch request: 8 bytes each, so requests stay small whatever the reply holds. */
const KEYS_PER_FETCH = 4_096;

export interface ExchangeDeps {
  nc: NatsConnection;
  store: RegistryStore;
  nodeId: string;
  encode: (message: object, compress: boolean) => Uint8Array;
  decode: (bytes: Uint8Array) => unknown;
  /** Merges peer entries and makes them durable. */
  apply: (records: readonly EntryRecord[]) => Promise<unknown>;
  timeoutMs: number;
  /** Bound for one message (batch bytes under the server's max payload). */
  maxMessageBytes: () => number;
}

export interface ReconcileOutcome {
  /** The peer's history and seq when it answered first: the cursor to resume pulling from. */
  epoch: string;
  seq: number;
  roundTrips: number;
  fetched: number;
  pushed: number;
  bytesOut: number;
  bytesIn: number;
}

/** Runs a whole reconciliation with `peer`; throws on timeouts and on bad replies. */
export async function reconcileWith(
  deps: ExchangeDeps,
  peer: string,
  subject: string,
): Promise<ReconcileOutcome> {
  const outcome: ReconcileOutcome = {
    epoch: "",
    seq: 0,
    roundTrips: 0,
    fetched: 0,
    pushed: 0,
    bytesOut: 0,
    bytesIn: 0,
  };
  const ask = async <S extends z.ZodType>(message: object, schema: S): Promise<z.output<S>> => {
    const bytes = deps.encode(message, true);
    outcome.bytesOut += bytes.length;
    const reply = await deps.nc.request(subject, bytes, { timeout: deps.timeoutMs });
    outcome.bytesIn += reply.data.length;
    const decoded = deps.decode(reply.data);
    const failure = ErrorReplySchema.safeParse(decoded);
    if (failure.success)
      throw new Error(`peer ${peer} refused reconciliation: ${failure.data.message}`);
    const parsed = parseMessage(schema, decoded) as z.output<S> & { node: string };
    if (parsed.node !== peer) throw new Error(`reply from ${parsed.node}, expected ${peer}`);
    return parsed;
  };
  const session = new ReconcileSession<Entry>(deps.store.reconIndex, {
    salt: randomInt(0, 0xffff_ffff),
    maxMessageBytes: deps.maxMessageBytes(),
  });
  const need: KeyHash[] = [];
  const have: KeyHash[] = [];
  let query: unknown = session.start();
  while (query !== undefined) {
    const reply = await ask(
      { type: "recon", v: PROTOCOL_VERSION, node: deps.nodeId, query },
      ReconReply,
    );
    outcome.roundTrips++;
    if (outcome.epoch === "") {
      outcome.epoch = reply.epoch;
      outcome.seq = reply.seq;
    }
    const step = session.process(reply.reply);
    need.push(...step.need);
    have.push(...step.have);
    query = step.query;
  }
  for (let i = 0; i < need.length; ) {
    const keys = need.slice(i, i + KEYS_PER_FETCH);
    const reply = await ask(
      { type: "fetch", v: PROTOCOL_VERSION, node: deps.nodeId, keys: packKeyHashes(keys) },
      EntriesReply,
    );
    outcome.roundTrips++;
    const records = fromTuples(reply.entries);
    await deps.apply(records);
    outcome.fetched += records.length;
    if (reply.served === 0) throw new Error(`peer ${peer} served none of ${keys.length} keys`);
    i += reply.served;
  }
  const mine = entriesFor(deps.store, have);
  for (const chunk of chunksByBytes(mine, deps.maxMessageBytes())) {
    await ask(
      { type: "push", v: PROTOCOL_VERSION, node: deps.nodeId, entries: chunk.map(toTuple) },
      PushedReply,
    );
    outcome.roundTrips++;
    outcome.pushed += chunk.length;
  }
  return outcome;
}

/** Answers a peer's reconciliation, fetch or push request. */
export async function serveExchange(deps: ExchangeDeps, msg: Msg): Promise<void> {
  if (!msg.reply) return;
  const answer = (message: object) => msg.respond(deps.encode(message, true));
  let request: z.output<typeof ExchangeRequest>;
  try {
    request = parseMessage(ExchangeRequest, deps.decode(msg.data));
  } catch (error) {
    answer(errorReply(deps.nodeId, error));
    throw error;
  }
  try {
    switch (request.type) {
      case "recon": {
        const { reply } = respond(deps.store.reconIndex, request.query, {
          maxMessageBytes: deps.maxMessageBytes(),
        });
        answer({
          type: "recon-reply",
          v: PROTOCOL_VERSION,
          node: deps.nodeId,
          epoch: deps.store.epoch,
          seq: deps.store.seq,
          reply,
        });
        return;
      }
      case "fetch": {
        const keys = unpackKeyHashes(request.keys);
        const budget = deps.maxMessageBytes();
        const entries: Entry[] = [];
        let bytes = 0;
        let served = 0;
        for (const key of keys) {
          const found = deps.store.reconIndex.find(keyHashHigh(key), keyHashLow(key));
          const size = found.reduce((sum, e) => sum + estimateRecordBytes(e), 0);
          if (served > 0 && bytes + size > budget) break;
          entries.push(...found);
          bytes += size;
          served++;
        }
        answer({
          type: "entries",
          v: PROTOCOL_VERSION,
          node: deps.nodeId,
          served,
          entries: entries.map(toTuple),
        });
        return;
      }
      case "push": {
        const records = fromTuples(request.entries);
        await deps.apply(records);
        answer({ type: "pushed", v: PROTOCOL_VERSION, node: deps.nodeId, applied: records.length });
        return;
      }
    }
  } catch (error) {
    answer(errorReply(deps.nodeId, error));
    throw error;
  }
}

function entriesFor(store: RegistryStore, keys: readonly KeyHash[]): Entry[] {
  const out: Entry[] = [];
  for (const key of keys) out.push(...store.reconIndex.find(keyHashHigh(key), keyHashLow(key)));
  return out;
}

function* chunksByBytes(entries: readonly Entry[], maxBytes: number): Generator<Entry[]> {
  let chunk: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = estimateRecordBytes(entry);
    if (chunk.length > 0 && bytes + size > maxBytes) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
