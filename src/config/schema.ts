import { hostname } from "node:os";
import { z } from "zod";
import { NODE_ID } from "../contract/ids.js";
import { natsUrlProblem, parseListen } from "../core/addresses.js";
import { MAX_TTL_MS } from "../core/instance.js";
import { REGION_NAME } from "../core/region.js";

/**
 * Every setting of a registry node, with its default, its unit and the reason for the default.
 * Flags, `REGSYNC_*` environment variables and the JSON config file are all validated by this
 * one schema; unknown keys are rejected so a typo never silently falls back to a default.
 */

/** A node id names the node's sync subject, so it must be one NATS subject token. */
export { NODE_ID };

const SUBJECT_TOKENS = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const REPLY_PREFIX = /^([A-Za-z0-9_$-]+\.)+$/;

const ms = (min: number, max: number) => z.int().min(min).max(max);
const publicNkey = z.string().regex(/^N[A-Z2-7]{55}$/, "an nkey public key (N…)");

const tlsSchema = z.strictObject({
  /** PEM file of the CA that signed the NATS servers' certificates. */
  ca: z.string().optional(),
  /** Client certificate and key, when the servers verify clients (mutual TLS). */
  cert: z.string().optional(),
  key: z.string().optional(),
});

const authSchema = z.strictObject({
  user: z.string().optional(),
  pass: z.string().optional(),
  token: z.string().optional(),
  /** File holding an nkey seed ("SU…") to authenticate with. */
  nkeySeedFile: z.string().optional(),
  /** A `.creds` file (JWT + nkey seed), as issued by an operator. */
  credsFile: z.string().optional(),
});

const nodeConfigFields = z.strictObject({
  /** NATS server URLs; the client fails over between them and reconnects forever. */
  nats: z
    .array(
      z.string().superRefine((url, ctx) => {
        const problem = natsUrlProblem(url);
        if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
      }),
    )
    .min(1)
    .default(["nats://127.0.0.1:4222"]),
  natsAuth: authSchema.default({}),
  tls: tlsSchema.optional(),
  /** Node id, also a NATS subject token. Default: derived from the host name, stable across
   * restarts so peers keep their cursors. */
  id: z.string().regex(NODE_ID, "1-64 characters of [A-Za-z0-9_-]").default(defaultNodeId()),
  /** The node's region (docs/topologies.md): lookups with `prefer: "region"` rank instances of
   * the caller's region first, and expiry is judged per region during a split. Default: the
   * cluster name of the NATS server the node first connects to (a supercluster's cluster, a
   * leaf server's cluster), else "default". Set it when the node's server list spans clusters. */
  region: z.string().regex(REGION_NAME, "1-64 characters of [A-Za-z0-9_.:-]").optional(),
  /** During a split, leases held by the nodes of a region this node cannot hear are judged as of
   * the moment it last heard that region (not hidden, not reported expired) for at most this
   * long; after it, a region still silent is taken as gone and its leases expire as usual. Keep
   * it above the longest region split you expect to ride out; 0 holds none. */
  regionHoldMs: ms(0, 30 * 86_400_000).default(3_600_000),
  /** Keep nothing on disk (tests, development). A restarted memory node starts a new epoch. */
  memory: z.boolean().default(false),
  /** Where the LMDB store lives. Default: `.regsync/<id>` under the working directory. */
  dataDir: z.string().optional(),
  /** Prefix of every subject; several registries can share one NATS account. */
  subjectPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
    .default("registry"),
  /** Subject prefix of this node's own inboxes (replies to its pulls). Give each role, or each
   * node, its own prefix and NATS subscribe rights on that prefix only, so no other user can
   * read its replies (docs/security.md). Default: the NATS client's `_INBOX`. */
  inboxPrefix: z.string().regex(SUBJECT_TOKENS, "NATS subject tokens, no wildcards").optional(),
  /** A node answers a client request only when its reply subject starts with one of these;
   * other requests are dropped and counted (`regsync_requests_dropped_total`), so a requester
   * cannot make the node publish on a registry subject such as `registry.changes.api`. */
  replyPrefixes: z
    .array(z.string().regex(REPLY_PREFIX, "subject tokens ending in '.', e.g. _INBOX."))
    .min(1)
    .max(64)
    .default(["_INBOX."]),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /** "auto": pretty in a terminal, JSON otherwise. */
  logFormat: z.enum(["auto", "json", "pretty"]).default("auto"),

  /** Periodic announcement: the liveness signal and the fallback when a change announcement is
   * lost. Shorter heals faster; each node sends one message per interval whatever the size. */
  syncIntervalMs: ms(100, 600_000).default(5_000),
  /** Changes within this window are coalesced into one announcement. 0 announces on the next
   * tick, which keeps propagation to a few milliseconds. */
  announceDelayMs: ms(0, 10_000).default(0),
  /** Announcements carry the changes inline up to this size, so peers need not pull at all. */
  inlineChangesMaxBytes: z
    .int()
    .min(0)
    .max(1 << 20)
    .default(32 * 1024),
  /** A pull not answered within this time counts as a failure and is retried. */
  pullTimeoutMs: ms(50, 120_000).default(2_000),
  /** Retries of a failed pull use exponential backoff with full jitter between these bounds. */
  retryBaseMs: ms(1, 60_000).default(100),
  retryMaxMs: ms(1, 600_000).default(10_000),
  /** After this many failures in a row a peer is suspect: skipped until it announces again or a
   * probe succeeds, so one dead peer never stalls sync with the others. */
  suspectAfterFailures: z.int().min(1).max(100).default(4),
  /** A peer that said it leaves, or has not announced for three sync intervals (silent), is
   * dropped from the peer table, the status and the metrics this long after; if it returns it
   * is met as a new peer and reconciled. Longer keeps a dead peer visible to operators. */
  forgetPeerAfterMs: ms(0, 7 * 86_400_000).default(600_000),
  /** How often a suspect peer is probed with a pull. */
  suspectProbeMs: ms(100, 3_600_000).default(30_000),
  /** Batch bounds, in entries and raw bytes. Uncompressed batches are also capped below the
   * server's max_payload; compressed ones at 4× it, and halved until the encoded batch fits. */
  batchMaxEntries: z.int().min(1).max(100_000).default(5_000),
  batchMaxBytes: z
    .int()
    .min(1024)
    .max(64 << 20)
    .default(2 << 20),
  /** Sync payloads at least this large are deflated (when that makes them smaller). */
  compressionThreshold: z
    .int()
    .min(0)
    .max(1 << 30)
    .default(1024),
  compression: z.enum(["deflate", "none"]).default("deflate"),
  /** Peers a node tracks at most. Each costs memory and a little work per announcement; an
   * announcement from a further new node id is refused and counted (too_many_peers), so a
   * flood of fake ids cannot grow a node without bound. Far above any real fleet. */
  maxPeers: z.int().min(1).max(100_000).default(1_024),
  /** Largest decompressed sync payload accepted: bounds memory against corrupt or hostile input. */
  maxDecompressedBytes: z
    .int()
    .min(1024)
    .max(1 << 30)
    .default(64 << 20),
  /** Largest client request accepted, before parsing. */
  maxRequestBytes: z
    .int()
    .min(1024)
    .max(64 << 20)
    .default(64 * 1024),

  /** Quotas on registrations, checked by the node that takes the write; over a quota the
   * request gets `quota_exceeded` and changes nothing. Instances and services are counted in
   * the replica (the whole fleet's state); the rate is per node and per service, so a fleet of
   * N nodes accepts up to N times it. 0 disables a quota. */
  maxInstancesPerService: z.int().min(0).max(10_000_000).default(20_000),
  maxServices: z.int().min(0).max(10_000_000).default(10_000),
  /** New registrations (and re-registrations) per second per service, with a burst of one
   * second's worth; heartbeats are not counted. */
  maxRegistrationsPerSecondPerService: z.int().min(0).max(1_000_000).default(5_000),

  /** A peer's version this far ahead of our wall clock is rejected and counted, and stays
   * rejected when it comes back later (it is judged once, when it first arrives). */
  maxClockSkewMs: ms(100, 86_400_000).default(30_000),
  /** How far past our wall clock a peer's version may move the local clock, and how much a
   * writer whose clock runs ahead may lengthen a lease. Small, so one fast clock cannot make
   * honest nodes' later writes lose to its earlier ones; writes to a key still always come
   * after the version they replace. At most `maxClockSkewMs`. */
  maxClockDriftMs: ms(0, 86_400_000).default(1_000),
  /** Tombstones and expired leases are kept this long, then collected. Must outlast the longest
   * partition: a node cut off longer could bring deleted entries back. At least the longest
   * lease plus `maxClockSkewMs` (checked below): a tombstone collected while the lease it ended
   * could still be live somewhere would let that lease come back. Default: 25 hours. */
  tombstoneTtlMs: ms(1_000, 30 * 86_400_000).default(90_000_000),
  /** How often leases are checked for expiry and old entries collected. */
  sweepIntervalMs: ms(10, 60_000).default(1_000),
  conflictResolution: z.enum(["lww", "version"]).default("lww"),

  /** Self-preservation: when more than this share of live leases would lapse within one
   * renewal window, the cause is far more likely a network failure than services dying, so
   * expiry pauses until renewals recover. 0 disables. */
  selfPreservationThreshold: z.number().min(0).max(1).default(0.5),
  /** The renewal window lapses are counted over, and how far back a freeze reaches: about half
   * the usual lease, so a network failure is caught before most leases are hidden. */
  selfPreservationWindowMs: ms(1_000, 3_600_000).default(15_000),
  /** Below this many leases renewed at least once, a burst of lapses is never treated as a
   * network failure. Leases never renewed (short jobs, junk) count neither here nor in the share. */
  selfPreservationMinLeases: z.int().min(1).max(1_000_000).default(20),
  /** The longest a freeze may last; it thaws earlier when renewals recover or when the lapsed
   * set stops growing for one window. Bounds how long dead instances can stay visible. */
  selfPreservationMaxMs: ms(1_000, 86_400_000).default(900_000),

  /** The node's ed25519 identity as an nkey seed ("SN…"), or a file holding it; batches are
   * signed with it. Without one, a key is generated per process. */
  nodeSeed: z.string().optional(),
  nodeSeedFile: z.string().optional(),
  /** The nodes whose sync data is accepted, each node id with its public nkey ("N…"):
   * `{"n1": "N…", "n2": "N…"}`. A message is accepted only when signed by the key of the node
   * it names. A plain list of keys is accepted only when every node's id is its public key,
   * which is then the check. Empty: accept unsigned data. */
  trustedPeers: z
    .union([
      z.array(publicNkey),
      z
        .record(z.string().regex(NODE_ID, "a node id"), publicNkey)
        .refine((peers) => new Set(Object.values(peers)).size === Object.keys(peers).length, {
          message: "each public key must belong to exactly one node id",
        }),
    ])
    .default([]),

  /** Address of the HTTP server for /metrics, /healthz, /readyz and the status page; "" disables. */
  httpListen: z
    .string()
    .superRefine((listen, ctx) => {
      if (listen === "") return;
      const parsed = parseListen(listen);
      if ("problem" in parsed) ctx.addIssue({ code: "custom", message: parsed.problem });
    })
    .default("127.0.0.1:7420"),
});

/** The settings, and the rules that tie several of them together. */
export const NodeConfigSchema = nodeConfigFields
  .refine((c) => c.tombstoneTtlMs >= MAX_TTL_MS + c.maxClockSkewMs, {
    path: ["tombstoneTtlMs"],
    message: `must be at least the longest lease (${MAX_TTL_MS} ms) plus maxClockSkewMs`,
  })
  .refine(
    (c) =>
      !Array.isArray(c.trustedPeers) ||
      c.trustedPeers.length === 0 ||
      c.trustedPeers.includes(c.id),
    {
      path: ["trustedPeers"],
      message:
        'a list of keys ties no key to a node id: give {"<node id>": "N…", …}, or use each node\'s public key as its id',
    },
  );

export type NodeConfig = Readonly<z.output<typeof NodeConfigSchema>>;
export type NodeConfigInput = z.input<typeof NodeConfigSchema>;

function defaultNodeId(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_-]/g, "-")
    .slice(0, 64);
  return host.length > 0 ? host : "regsync";
}
