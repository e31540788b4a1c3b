import { z } from "zod";
import { NODE_ID } from "../contract/ids.js";
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
import type { MessageCodec } from "./codec.js";
import { fromTuples, heldIn, toTuple } from "./entry-codec.js";
import {
  checkEcho,
  ErrorReplySchema,
  errorReply,
  newNonce,
  nonce,
  PROTOCOL_VERSION,
  parseMessage,
  requestFreshness,
} from "./messages.js";
import type { RequestGate } from "./request-freshness.js";
import type { SyncTransport, TransportMessage } from "./transport.js";

/**
 * Differential reconciliation between two nodes over NATS request-reply (DESIGN.md §4.3): the
 * initiator runs a ReconcileSession against the peer's `reconcile` subject, learns which keys
 * differ, fetches the peer's versions of those and pushes its own. Cost grows with the number
 * of differences, not with the registry size. Each step's keys are fetched and pushed before
 * the next query leaves, so memory stays bounded by one step, however far apart the two are.
 */
const nodeId = z.string().regex(NODE_ID);
const ReconRequest = z.object({
  type: z.literal("recon"),
  v: z.int().min(1),
  node: nodeId,
  ...requestFreshness,
  query: z.unknown(),
});
const FetchRequest = z.object({
  type: z.literal("fetch"),
  v: z.int().min(1),
  node: nodeId,
  ...requestFreshness,
  keys: z.instanceof(Uint8Array),
});
const PushRequest = z.object({
  type: z.literal("push"),
  v: z.int().min(1),
  node: nodeId,
  ...requestFreshness,
  entries: z.array(z.unknown()),
});
const ExchangeRequest = z.discriminatedUnion("type", [ReconRequest, FetchRequest, PushRequest]);

const ReconReply = z.object({
  type: z.literal("recon-reply"),
  v: z.int().min(1),
  node: nodeId,
  nonce: nonce.optional(),
  epoch: z.string().min(1).max(64),
  seq: z.int().min(0),
  reply: z.unknown(),
});
const EntriesReply = z.object({
  type: z.literal("entries"),
  v: z.int().min(1),
  node: nodeId,
  nonce: nonce.optional(),
  /** How many of the requested keys this reply covers; the rest are asked for again. */
  served: z.int().min(0),
  entries: z.array(z.unknown()),
});
const PushedReply = z.object({
  type: z.literal("pushed"),
  v: z.int().min(1),
  node: nodeId,
  nonce: nonce.optional(),
  applied: z.int().min(0),
});

/** Keys per fetch request: 8 bytes each, so requests stay small whatever the reply holds. */
const KEYS_PER_FETCH = 4_096;

export interface ExchangeDeps {
  transport: SyncTransport;
  store: RegistryStore;
  nodeId: string;
  /** Compresses when `compress` is set and the node compresses at all. */
  codec: MessageCodec;
  /** Merges peer entries and makes them durable. */
  /** Merges peers' records; what it returns is what was really applied. */
  apply: (records: readonly EntryRecord[]) => Promise<{ applied: readonly unknown[] }>;
  timeoutMs: number;
  /** Bound for one message (batch bytes under the server's max payload). */
  maxMessageBytes: () => number;
  /** Uniform in [0, 1): the session's salt. */
  random: () => number;
  /** Judges each served request's freshness (request-freshness.ts). */
  gate: RequestGate;
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
  const ask = async <S extends z.ZodType>(
    message: object | Encoded,
    schema: S,
  ): Promise<z.output<S>> => {
    // Every request carries a fresh nonce that its reply must echo (stale replies are refused).
    const { bytes, nonce } =
      "bytes" in message && message.bytes instanceof Uint8Array
        ? (message as Encoded)
        : encodeRequest(deps, message);
    outcome.bytesOut += bytes.length;
    const reply = await deps.transport.request(subject, bytes, { timeoutMs: deps.timeoutMs });
    outcome.bytesIn += reply.length;
    outcome.roundTrips++;
    const decoded = deps.codec.decode(reply);
    const failure = ErrorReplySchema.safeParse(decoded);
    if (failure.success)
      throw new Error(`peer ${peer} refused reconciliation: ${failure.data.message}`);
    const parsed = parseMessage(schema, decoded) as z.output<S> & { node: string; nonce: string };
    if (parsed.node !== peer) throw new Error(`reply from ${parsed.node}, expected ${peer}`);
    checkEcho(parsed, nonce);
    return parsed;
  };
  const session = new ReconcileSession<Entry>(deps.store.reconIndex, {
    salt: Math.floor(deps.random() * 0xffff_ffff),
    maxMessageBytes: deps.maxMessageBytes(),
    retainKeys: false,
  });
  let query: unknown = session.start();
  while (query !== undefined) {
    const reply = await ask(
      { type: "recon", v: PROTOCOL_VERSION, node: deps.nodeId, query },
      ReconReply,
    );
    if (outcome.epoch === "") {
      outcome.epoch = reply.epoch;
      outcome.seq = reply.seq;
    }
    const step = session.process(reply.reply);
    // Acting on each step at once keeps only one step's keys in memory. Fetched entries land in
    // ranges this session has already settled, so merging them does not disturb the rest.
    outcome.fetched += await fetchKeys(deps, step.need, ask);
    outcome.pushed += await pushKeys(deps, step.have, ask);
    query = step.query;
  }
  return outcome;
}

/** Sends a message (or bytes already encoded) and validates the reply. */
/** A request already encoded, with the nonce it carries. */
interface Encoded {
  bytes: Uint8Array;
  nonce: string;
}

function encodeRequest(deps: ExchangeDeps, message: object): Encoded {
  const nonce = newNonce();
  const at = deps.store.clock.now();
  return { bytes: deps.codec.encode({ ...message, nonce, at }, true), nonce };
}

type Ask = <S extends z.ZodType>(message: object | Encoded, schema: S) => Promise<z.output<S>>;

/** Fetches the peer's versions of `keys`, a bounded request at a time; returns entries applied. */
async function fetchKeys(deps: ExchangeDeps, keys: readonly KeyHash[], ask: Ask): Promise<number> {
  let fetched = 0;
  for (let i = 0; i < keys.length; ) {
    const chunk = keys.slice(i, i + KEYS_PER_FETCH);
    const reply = await ask(
      { type: "fetch", v: PROTOCOL_VERSION, node: deps.nodeId, keys: packKeyHashes(chunk) },
      EntriesReply,
    );
    const records = fromTuples(reply.entries, heldIn(deps.store));
    await deps.apply(records);
    fetched += records.length;
    if (reply.served === 0) throw new Error(`peer served none of ${chunk.length} keys`);
    i += reply.served;
  }
  return fetched;
}

/** Pushes our versions of `keys` in messages of bounded size; returns entries pushed. */
async function pushKeys(deps: ExchangeDeps, keys: readonly KeyHash[], ask: Ask): Promise<number> {
  let pushed = 0;
  for (const chunk of chunksByBytes(entriesFor(deps.store, keys), deps.maxMessageBytes())) {
    pushed += await pushChunk(deps, chunk, ask);
  }
  return pushed;
}

/** The byte bound is an estimate (multi-byte text counts once): a chunk still over the
 * transport's limit is split in half until it fits. */
async function pushChunk(deps: ExchangeDeps, chunk: readonly Entry[], ask: Ask): Promise<number> {
  const request = encodeRequest(deps, {
    type: "push",
    v: PROTOCOL_VERSION,
    node: deps.nodeId,
    entries: chunk.map(toTuple),
  });
  if (request.bytes.length > deps.transport.maxPayload() && chunk.length > 1) {
    const half = chunk.length >> 1;
    return (
      (await pushChunk(deps, chunk.slice(0, half), ask)) +
      (await pushChunk(deps, chunk.slice(half), ask))
    );
  }
  await ask(request, PushedReply);
  return chunk.length;
}

/**
 * The peer's answer to a fetch: our versions of as many of `keys` as fit one message. The byte
 * budget is an estimate, so a reply still over the transport's limit serves half the keys,
 * until it fits; the peer asks again for the rest.
 */
function fetchReply(deps: ExchangeDeps, keys: readonly KeyHash[], nonce: string): Uint8Array {
  const budget = deps.maxMessageBytes();
  let limit = keys.length;
  for (;;) {
    const entries: Entry[] = [];
    let bytes = 0;
    let served = 0;
    for (const key of keys) {
      if (served === limit) break;
      const found = deps.store.reconIndex.find(keyHashHigh(key), keyHashLow(key));
      const size = found.reduce((sum, e) => sum + estimateRecordBytes(e), 0);
      if (served > 0 && bytes + size > budget) break;
      for (const entry of found) entries.push(entry);
      bytes += size;
      served++;
    }
    const reply = deps.codec.encode(
      {
        type: "entries",
        v: PROTOCOL_VERSION,
        node: deps.nodeId,
        served,
        entries: entries.map(toTuple),
        nonce,
      },
      true,
    );
    if (reply.length <= deps.transport.maxPayload() || served <= 1) return reply;
    limit = served >> 1;
  }
}

/** Answers a peer's reconciliation, fetch or push request. */
export async function serveExchange(deps: ExchangeDeps, msg: TransportMessage): Promise<void> {
  if (!msg.reply) return;
  const answer = (message: object) => msg.respond(deps.codec.encode(message, true));
  let request: z.output<typeof ExchangeRequest>;
  try {
    request = parseMessage(ExchangeRequest, deps.codec.decode(msg.data));
  } catch (error) {
    answer(errorReply(deps.nodeId, error));
    throw error;
  }
  // A request that is not fresh is left unanswered: replaying one costs a signature check.
  deps.gate.admit(request);
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
          nonce: request.nonce,
        });
        return;
      }
      case "fetch": {
        msg.respond(fetchReply(deps, unpackKeyHashes(request.keys), request.nonce));
        return;
      }
      case "push": {
        const { applied } = await deps.apply(fromTuples(request.entries, heldIn(deps.store)));
        answer({
          type: "pushed",
          v: PROTOCOL_VERSION,
          node: deps.nodeId,
          applied: applied.length,
          nonce: request.nonce,
        });
        return;
      }
    }
  } catch (error) {
    answer(errorReply(deps.nodeId, error));
    throw error;
  }
}

function* entriesFor(store: RegistryStore, keys: readonly KeyHash[]): Generator<Entry> {
  for (const key of keys) yield* store.reconIndex.find(keyHashHigh(key), keyHashLow(key));
}

function* chunksByBytes(entries: Iterable<Entry>, maxBytes: number): Generator<Entry[]> {
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
