import { type NatsConnection, NatsError, ErrorCode as NatsErrorCode } from "nats";
import {
  type ClientEndpoint,
  clientSubject,
  isWriteEndpoint,
  scopedSubject,
} from "../contract/subjects.js";
import { natsUrlProblem } from "../core/addresses.js";
import { mergeTokens } from "../core/causal-token.js";
import type { InstanceInput, Status } from "../core/instance.js";
import type { LookupQuery } from "../core/lookup.js";
import type { RegionFreshness } from "../core/region-freshness.js";
import { connectNats, type NatsSettings } from "../nats/connection.js";
import { utf8 } from "../wire/utf8.js";
import { errorFromReply, isErrorReply, RegistryClientError } from "./errors.js";
import { checkServiceOf, followPages, type Paged } from "./pages.js";
import { Registration } from "./registration.js";
import { type ChangeCallback, type Watch, type WatchOptions, watchService } from "./watch.js";

/** An instance as the registry returns it: what was registered plus the lease and the node. */
export interface RegisteredInstance
  extends Required<Pick<InstanceInput, "service" | "id" | "host" | "port">> {
  status: Status;
  version?: string;
  environment?: string;
  region?: string;
  tags?: Record<string, string>;
  capabilities?: string[];
  dependencies?: string[];
  endpoints?: Record<string, string>;
  weight: number;
  healthCheckUrl?: string;
  ttlMs: number;
  registeredAt: number;
  lastHeartbeat: number;
  expiresAt: number;
  node: string;
}

export interface ServiceSummary {
  name: string;
  instances: number;
  healthy: number;
}

export interface SnapshotEntry {
  id: string;
  version: number;
  instance: RegisteredInstance;
}

/** Lookup filters, and `prefer: "region"` to rank the caller's region first (docs/client.md). */
export interface LookupOptions extends Omit<LookupQuery, "service"> {
  /**
   * "region": instances of `region` (default: the client's `region`, else the answering node's)
   * come first, then the others; `region` then orders the answer instead of filtering it.
   */
  prefer?: "region";
}

/** A lookup's answer with the answering node and its freshness per region. */
export interface LookupWithRegions {
  instances: RegisteredInstance[];
  node: string;
  nodeRegion: string;
  regions: Record<string, RegionFreshness>;
  /** The region ranked first, with `prefer: "region"`. */
  preferredRegion?: string;
}

/** How current the answering node is with one region (docs/topologies.md). */
export type { RegionFreshness };

/** A snapshot reply: the whole service (`full`) or what changed after the version asked for. */
export interface SnapshotReply {
  full: boolean;
  /** The newest version the answering node held of the service, deletions included. */
  asOf: number;
  /** The answering node's clock when it answered (an HLC timestamp). */
  at?: number;
  entries: SnapshotEntry[];
  /** Keys no longer live, with the version that ended them (only when not `full`). */
  removed?: { id: string; version: number }[];
  node: string;
  bytes: number;
}

export interface ClientOptions {
  /** Subject prefix of the registry (default `registry`). */
  prefix?: string;
  /** The caller's region, for lookups with `prefer: "region"` that name none. */
  region?: string;
  /** Time to wait for a node's answer. @default 5000 */
  timeoutMs?: number;
  /**
   * A causal token from an earlier write (another process's `register` reply, for example):
   * this client's reads and renewals then see that write too. @default none
   */
  causalToken?: string;
  /** With `connect()`: how long to try to reach NATS before failing with the server and the
   * cause (refused, TLS, auth, bad URL). @default timeoutMs */
  connectTimeoutMs?: number;
}

/** Calls that carry the client's causal token, so they see its own earlier writes. */
const CAUSAL_ENDPOINTS: ReadonlySet<ClientEndpoint> = new Set([
  "heartbeat",
  "deregister",
  "lookup",
]);

const DEFAULT_TIMEOUT_MS = 5_000;
const decoder = new TextDecoder();

/**
 * The registry's client: calls the JSON API of DESIGN.md §2 over NATS request-reply. Any node
 * answers (queue group), so the client needs no list of nodes, only a NATS connection.
 */
export class RegistryClient {
  readonly prefix: string;
  readonly region: string | undefined;
  private readonly timeoutMs: number;
  private causal: string | undefined;

  constructor(
    readonly nc: NatsConnection,
    options: ClientOptions = {},
    private readonly ownsConnection = false,
  ) {
    this.prefix = options.prefix ?? "registry";
    this.region = options.region;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.causal = options.causalToken;
  }

  /**
   * The causal token of this client's writes so far (read-your-writes, docs/client.md): sent
   * with every heartbeat, deregister and lookup, so the node that answers has seen them.
   */
  get causalToken(): string | undefined {
    return this.causal;
  }

  /**
   * Connects to NATS with the given settings; `close()` closes that connection. Fails within
   * `connectTimeoutMs` with a RegistryClientError (`unavailable`) whose message names the server
   * and the cause, rather than waiting for a server that may never come.
   */
  static async connect(
    settings: Partial<NatsSettings> & ClientOptions = {},
  ): Promise<RegistryClient> {
    const servers = settings.servers ?? [process.env.NATS_URL ?? "nats://127.0.0.1:4222"];
    for (const server of servers) {
      const problem = natsUrlProblem(server);
      if (problem !== undefined) {
        throw new RegistryClientError(
          "unavailable",
          `cannot connect to NATS at ${servers.join(",")}: ${problem}`,
        );
      }
    }
    let nc: NatsConnection;
    try {
      nc = await connectNats({
        name: "regsync-client",
        ...settings,
        servers,
        connectTimeoutMs: settings.connectTimeoutMs ?? settings.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      });
    } catch (error) {
      throw new RegistryClientError("unavailable", (error as Error).message, [], { cause: error });
    }
    return new RegistryClient(nc, settings, true);
  }

  /**
   * Registers an instance. With `keepAlive` (the default) the returned handle renews the lease
   * at a third of its ttl, registers again when the lease was lost, and deregisters on close().
   */
  async register(
    instance: InstanceInput,
    options: { keepAlive?: boolean } = {},
  ): Promise<Registration> {
    const reply = await this.call<{ instance: RegisteredInstance; node: string }>(
      "register",
      instance,
    );
    const registration = new Registration(this, instance, reply.instance);
    if (options.keepAlive ?? true) registration.startKeepAlive();
    return registration;
  }

  /** Renews a lease (optionally changing the status); `not_found` means: register again. */
  async heartbeat(service: string, id: string, status?: Status): Promise<{ expiresAt: number }> {
    return this.call("heartbeat", status === undefined ? { service, id } : { service, id, status });
  }

  async deregister(service: string, id: string): Promise<void> {
    await this.call("deregister", { service, id });
  }

  /** Every live instance of a service that matches the filters, following the node's pages.
   * Every instance is checked to be of the service asked for: a reply meant for another
   * request is refused, never returned. With `prefer: "region"` the caller's region's
   * instances come first (docs/client.md). */
  async lookup(service: string, options: LookupOptions = {}): Promise<RegisteredInstance[]> {
    return (await this.lookupPages(service, this.lookupBody(service, options))).instances;
  }

  /**
   * A lookup that also says which node answered (the last page's) and how current it is with
   * every region, so the caller can tell, during a region split, that another region's
   * instances are as of `lastHeardMs` ago (`stale`).
   */
  async lookupWithRegions(
    service: string,
    options: LookupOptions = {},
  ): Promise<LookupWithRegions> {
    const { instances, last } = await this.lookupPages(service, {
      ...this.lookupBody(service, options),
      regions: true,
    });
    const {
      ok: _ok,
      nextCursor: _next,
      instances: _page,
      ...about
    } = last as LookupWithRegions & {
      ok: true;
      nextCursor?: string;
    };
    return { ...about, instances };
  }

  private async lookupPages(
    service: string,
    body: Record<string, unknown>,
  ): Promise<{ instances: RegisteredInstance[]; last: unknown }> {
    let last: unknown;
    const instances = await followPages((cursor) =>
      this.call<Paged<{ instances: RegisteredInstance[] }>>("lookup", { ...body, ...cursor }).then(
        (reply) => {
          last = reply;
          return { items: reply.instances, nextCursor: reply.nextCursor };
        },
      ),
    );
    checkServiceOf(service, instances);
    return { instances, last };
  }

  private lookupBody(service: string, options: LookupOptions): Record<string, unknown> {
    const body: Record<string, unknown> = { service, ...options };
    if (options.prefer === "region" && options.region === undefined && this.region !== undefined)
      body.region = this.region;
    return body;
  }

  /** Every service with a live instance, following the node's pages. */
  async services(): Promise<ServiceSummary[]> {
    return followPages((cursor) =>
      this.call<Paged<{ services: ServiceSummary[] }>>("services", { ...cursor }).then((reply) => ({
        items: reply.services,
        nextCursor: reply.nextCursor,
      })),
    );
  }

  /** Live instances with the version of each: the starting point of a watch. */
  async snapshot(service: string): Promise<SnapshotEntry[]> {
    const entries = await followPages((cursor) =>
      this.call<Paged<{ entries: SnapshotEntry[] }>>("snapshot", { service, ...cursor }).then(
        (reply) => ({ items: reply.entries, nextCursor: reply.nextCursor }),
      ),
    );
    checkServiceOf(
      service,
      entries.map((e) => e.instance),
    );
    return entries;
  }

  /**
   * What changed in a service after version `since` (see docs/watch.md), or the whole service
   * when `since` is omitted or too old for the node to answer from its change log. `bytes` is the
   * size of the reply, for watches that account for what their resyncs cost.
   */
  async snapshotSince(service: string, since?: number): Promise<SnapshotReply> {
    const reply: SnapshotReply = { full: true, asOf: 0, entries: [], node: "", bytes: 0 };
    let cursor: string | undefined;
    do {
      const body = {
        service,
        ...(since === undefined ? {} : { since }),
        ...(cursor ? { cursor } : {}),
      };
      const { parsed, bytes } = await this.exchange<Paged<Omit<SnapshotReply, "bytes">>>(
        "snapshot",
        body,
      );
      if (reply.bytes === 0) {
        reply.full = parsed.full;
        reply.node = parsed.node;
        if (parsed.removed !== undefined) reply.removed = parsed.removed;
      } else if (parsed.full !== reply.full) {
        // Another node answered a later page differently: start over from the whole service.
        return this.snapshotSince(service);
      }
      reply.bytes += bytes;
      reply.asOf = Math.max(reply.asOf, parsed.asOf);
      if (parsed.at !== undefined) reply.at = Math.min(reply.at ?? parsed.at, parsed.at);
      reply.entries.push(...parsed.entries);
      cursor = parsed.nextCursor;
    } while (cursor !== undefined);
    checkServiceOf(
      service,
      reply.entries.map((e) => e.instance),
    );
    return reply;
  }

  /** Follows a service: a snapshot, then every change, resynchronising after any gap. */
  watch(service: string, callback: ChangeCallback, options: WatchOptions = {}): Promise<Watch> {
    return watchService(this, service, callback, options);
  }

  async close(): Promise<void> {
    if (this.ownsConnection && !this.nc.isClosed()) await this.nc.close();
  }

  /** Writes go to the per-service subject (`registry.register.<service>`), everything else to
   * the endpoint's subject. */
  private subjectOf(endpoint: ClientEndpoint, body: unknown): string {
    const service = serviceOfBody(body);
    return isWriteEndpoint(endpoint) && service !== undefined
      ? scopedSubject(this.prefix, endpoint, service)
      : clientSubject(this.prefix, endpoint);
  }

  /**
   * One API call; error replies and NATS failures become RegistryClientError. While no node
   * serves (no responders: a fleet's first start, or every node restarting) or the node that
   * answered cannot serve yet (`unavailable`), the call is retried with backoff and full
   * jitter until `timeoutMs` has passed since it began, so a client waits instead of failing.
   */
  async call<T>(endpoint: ClientEndpoint, body: unknown): Promise<T> {
    return (await this.exchange<T>(endpoint, body)).parsed;
  }

  /** `call`, with the size of the reply (for watches that account for their resyncs). */
  private async exchange<T>(
    endpoint: ClientEndpoint,
    body: unknown,
  ): Promise<{ parsed: T; bytes: number }> {
    const deadline = Date.now() + this.timeoutMs;
    const withToken =
      this.causal !== undefined && CAUSAL_ENDPOINTS.has(endpoint) && isObject(body)
        ? { ...body, token: this.causal }
        : body;
    const payload = utf8(JSON.stringify(withToken));
    const subject = this.subjectOf(endpoint, body);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.callOnce<T>(subject, payload, deadline - Date.now());
      } catch (error) {
        const retry = retryDelayMs(error, attempt);
        if (retry === undefined || Date.now() + retry >= deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, retry));
      }
    }
  }

  private async callOnce<T>(
    subject: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<{ parsed: T; bytes: number }> {
    let data: Uint8Array;
    try {
      const reply = await this.nc.request(subject, payload, {
        timeout: Math.max(1, timeoutMs),
      });
      data = reply.data;
    } catch (error) {
      throw toClientError(error);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(data));
    } catch (error) {
      throw new RegistryClientError("internal", "the node's reply is not JSON", [], {
        cause: error,
      });
    }
    if (isErrorReply(parsed)) throw errorFromReply(parsed);
    const token = (parsed as { token?: unknown }).token;
    if (typeof token === "string") this.remember(token);
    return { parsed: parsed as T, bytes: data.length };
  }

  private remember(token: string): void {
    try {
      this.causal = mergeTokens(this.causal, token);
    } catch {
      // A token this client cannot read (a node of another version) only costs freshness.
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** First retry after about this long; each next one may wait twice as long, up to the cap. */
const RETRY_BASE_MS = 20;
const RETRY_MAX_MS = 500;

/** How long to wait before retrying a failed call, or undefined when it must not be retried:
 * only "nobody could serve it" is retried; a timeout already waited, and a node's verdict on
 * the request stands. */
function retryDelayMs(error: unknown, attempt: number): number | undefined {
  if (!(error instanceof RegistryClientError) || error.code !== "unavailable") return undefined;
  if (
    error.cause instanceof NatsError &&
    (error.cause.code === NatsErrorCode.Timeout ||
      error.cause.code === NatsErrorCode.PermissionsViolation)
  )
    return undefined;
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt);
  return Math.random() * ceiling;
}

/** Scoped subjects let NATS permissions limit each team to its own services (docs/security.md). */
function serviceOfBody(body: unknown): string | undefined {
  const service = (body as { service?: unknown } | null)?.service;
  return typeof service === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(service) ? service : undefined;
}

function toClientError(error: unknown): RegistryClientError {
  if (error instanceof NatsError) {
    if (error.code === NatsErrorCode.PermissionsViolation) {
      // Not worth retrying: the NATS user may not publish this request (a team writing a
      // service that is not its own, docs/security.md).
      return new RegistryClientError(
        "unavailable",
        `NATS refused the request: ${error.message} (check the user's permissions)`,
        [],
        { cause: error },
      );
    }
    if (error.code === NatsErrorCode.NoResponders) {
      return new RegistryClientError("unavailable", "no registry node is serving", [], {
        cause: error,
      });
    }
    if (error.code === NatsErrorCode.Timeout) {
      return new RegistryClientError("unavailable", "no registry node answered in time", [], {
        cause: error,
      });
    }
  }
  return new RegistryClientError(
    "unavailable",
    `cannot reach the registry: ${(error as Error).message}`,
    [],
    {
      cause: error,
    },
  );
}
