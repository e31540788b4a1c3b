import type { z } from "zod";
import {
  DeregisterRequest,
  HeartbeatRequest,
  LookupRequest,
  ServicesRequest,
  SnapshotRequest,
} from "../contract/requests.js";
import {
  type CausalMark,
  type ChangeEvent,
  checkInstance,
  describeIssues,
  type Entry,
  formatToken,
  heldLeaseEnd,
  type LookupQuery,
  leaseEnd,
  packHlc,
  type RegistryStore,
  regionRank,
  renderInstance,
} from "../core/mod.js";
import { isErrorCode, RegistryError, type ValidationIssue } from "../errors.js";
import type { ClientEndpoint } from "../subjects.js";
import type { WriteAdmission } from "./admission.js";
import { byKey, nextCursorField, renderPage, replyBudget } from "./pages.js";
import { CausalWait } from "./read-your-writes.js";
import type { ApiRegions } from "./regions.js";

export interface ApiDependencies {
  store: RegistryStore;
  nodeId: string;
  maxRequestBytes: number;
  /** Makes written entries durable; the reply waits for it (nothing acknowledged is lost). */
  commit: (entries: readonly Entry[]) => Promise<void>;
  /** A local write was committed: publish its change event and announce it. `instanceJson` is
   * the entry as rendered for the reply, so the change event need not render it again. */
  onWrite: (event: ChangeEvent | undefined, instanceJson?: string) => void;
  /** Whether the node may serve reads (bootstrapped) and writes. */
  ready: () => boolean;
  /** Read-your-writes: whether this replica holds a client's earlier writes (its token). */
  causal?: CausalWait;
  /** Sends a request to the node that accepted the client's write; its reply text, or
   * undefined when that node cannot be reached. */
  forward?: (node: string, endpoint: ClientEndpoint, body: unknown) => Promise<string | undefined>;
  wallClock: () => number;
  /** Size and quota checks of registrations; absent, only the schema's bounds apply. */
  admission?: WriteAdmission;
  /** Bytes a page of a paged read may fill (from the server's max_payload).
   * @default the budget of NATS's default max_payload, 1 MiB */
  replyBudget?: () => number;
  /** The node's regions: `prefer: "region"`, freshness, and leases a region split holds. */
  regions?: ApiRegions;
}

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const byId = byKey((e: Entry) => e.id);
const byName = byKey((s: { name: string }) => s.name);
const byRankedKey = byKey((item: { key: string }) => item.key);

/**
 * The client API of DESIGN.md §2 as plain functions from request bytes to reply JSON text;
 * the NATS micro service in service.ts only moves bytes. Every failure is a RegistryError.
 */
export class RegistryApi {
  private readonly encoder = new TextDecoder("utf-8", { fatal: true });

  constructor(private readonly deps: ApiDependencies) {}

  private replyBudget(): number {
    return this.deps.replyBudget?.() ?? replyBudget(DEFAULT_MAX_PAYLOAD);
  }

  /** `scope` is the service token of a per-service write subject (`registry.register.<service>`);
   * the body's service must equal it, or a team allowed on that subject alone could write
   * another team's service. */
  async handle(endpoint: ClientEndpoint, data: Uint8Array, scope?: string): Promise<string> {
    if (data.length > this.deps.maxRequestBytes) {
      throw new RegistryError(
        "payload_too_large",
        `request of ${data.length} bytes exceeds the limit of ${this.deps.maxRequestBytes}`,
      );
    }
    if (!this.deps.ready())
      throw new RegistryError("unavailable", "node is not ready (starting or bootstrapping)");
    const body = this.parseJson(data, endpoint === "services");
    if (scope !== undefined) checkScope(body, scope);
    let stale = false;
    if (CAUSAL_ENDPOINTS.has(endpoint)) {
      const marks = takeToken(body);
      if (marks !== undefined && this.deps.causal !== undefined) {
        const missing = await this.deps.causal.settle(marks);
        if (missing !== undefined) {
          // Still behind the client's own write: the node that took it answers instead.
          const reply = await this.deps.forward?.(missing.node, endpoint, body);
          if (reply !== undefined) return passOn(reply);
          stale = true;
        }
      }
    }
    return this.serve(endpoint, body, stale, data.length);
  }

  /**
   * A request another node forwarded because it had not yet received the client's write: it
   * was accepted here, so it is served from this replica without waiting. Errors come back as
   * their JSON reply, which the forwarding node passes on.
   */
  async handleForwarded(endpoint: ClientEndpoint, body: unknown): Promise<string> {
    try {
      if (!CAUSAL_ENDPOINTS.has(endpoint))
        throw new RegistryError("invalid_request", `${endpoint} is not forwarded`);
      return await this.serve(endpoint, body, false, 0);
    } catch (error) {
      const failure =
        error instanceof RegistryError
          ? error
          : new RegistryError("internal", "internal error", undefined, { cause: error });
      return JSON.stringify(failure);
    }
  }

  private serve(
    endpoint: ClientEndpoint,
    body: unknown,
    stale: boolean,
    bytes: number,
  ): Promise<string> | string {
    switch (endpoint) {
      case "register":
        return this.register(body, bytes);
      case "heartbeat":
        return this.heartbeat(body);
      case "deregister":
        return this.deregister(body);
      case "lookup":
        return this.lookup(body, stale);
      case "services":
        return this.services(body);
      case "snapshot":
        return this.snapshot(body);
    }
  }

  private async register(body: unknown, requestBytes: number): Promise<string> {
    const instance = validated(checkInstance(body));
    this.deps.admission?.admit(instance, requestBytes);
    const event = this.deps.store.register(instance, this.deps.wallClock());
    await this.deps.commit([event.entry]);
    const instanceJson = renderInstance(event.entry);
    this.deps.onWrite(event, instanceJson);
    return `{"ok":true,"instance":${instanceJson},"node":${JSON.stringify(this.deps.nodeId)},"token":${this.token()}}`;
  }

  private async heartbeat(body: unknown): Promise<string> {
    const request = validate(HeartbeatRequest, body);
    // Judged by the lease clock, as lookups are: during a freeze a lease that lookups still show
    // can be renewed.
    const renewed = this.deps.store.heartbeat(
      request.service,
      request.id,
      request.status,
      this.deps.wallClock(),
    );
    if (renewed === undefined) {
      throw new RegistryError(
        "not_found",
        `no live instance ${request.service}/${request.id}; register it again`,
      );
    }
    await this.deps.commit([renewed.entry]);
    this.deps.onWrite(renewed.event);
    return `{"ok":true,"expiresAt":${heldLeaseEnd(renewed.entry)},"token":${this.token()}}`;
  }

  private async deregister(body: unknown): Promise<string> {
    const request = validate(DeregisterRequest, body);
    this.deps.admission?.admitDeregister(request.service, request.id);
    const { entry, event } = this.deps.store.deregister(request.service, request.id);
    await this.deps.commit([entry]);
    this.deps.onWrite(event);
    return `{"ok":true,"token":${this.token()}}`;
  }

  /** `stale`: the client's own writes had not reached this replica and their node could not
   * be asked; the answer may miss them, and says so. */
  private lookup(body: unknown, stale: boolean): string {
    const { prefer, regions: withRegions, limit, cursor, ...query } = validate(LookupRequest, body);
    const paging = { limit, cursor };
    const regions = this.deps.regions;
    let extra = stale ? ',"stale":true' : "";
    if (withRegions === true && regions !== undefined) {
      extra = `,"node":${JSON.stringify(this.deps.nodeId)},"nodeRegion":${JSON.stringify(regions.region)},"regions":${JSON.stringify(regions.freshness())}`;
    }
    if (prefer !== "region") {
      const entries = this.live(query).sort(byId);
      const page = renderPage(entries, idOf, renderInstance, paging, this.replyBudget());
      return `{"ok":true,"instances":${page.json}${nextCursorField(page)}${extra}}`;
    }
    // `region` is the caller's region here: it orders the answer, it does not filter it. Pages
    // follow the order (the caller's region, then the rest; by id within each), so a cursor
    // carries the rank too.
    const preferred = query.region ?? regions?.region;
    const regionOfNode = regions?.regionOfNode ?? (() => undefined);
    const ranked = this.live({ ...query, region: undefined })
      .map((entry) => ({
        entry,
        key: `${preferred === undefined ? 1 : regionRank(entry, preferred, regionOfNode)}:${entry.id}`,
      }))
      .sort(byRankedKey);
    const page = renderPage(
      ranked,
      (item) => item.key,
      (item) => renderInstance(item.entry),
      paging,
      this.replyBudget(),
    );
    if (preferred !== undefined) extra += `,"preferredRegion":${JSON.stringify(preferred)}`;
    return `{"ok":true,"instances":${page.json}${nextCursorField(page)}${extra}}`;
  }

  /**
   * Live instances matching `query`. Leases are judged by the lease clock, and during a region
   * split those held by a silent region's nodes as of when that region was last heard.
   */
  private live(query: LookupQuery): Entry[] {
    const leaseClock = this.deps.wallClock();
    const regions = this.deps.regions;
    if (regions === undefined) return this.deps.store.lookup(query, leaseClock);
    const view = regions.splitView();
    const earliest = regions.earliestLeaseClock(view, leaseClock);
    if (earliest >= leaseClock) return this.deps.store.lookup(query, leaseClock);
    return this.deps.store
      .lookup(query, earliest)
      .filter((entry) => leaseEnd(entry) > regions.leaseClockOf(entry, view, leaseClock));
  }

  /** This node's causal token after a write: the client passes it back to see that write. */
  private token(): string {
    const { store, nodeId } = this.deps;
    return JSON.stringify(formatToken([{ node: nodeId, epoch: store.epoch, seq: store.seq }]));
  }

  private services(body: unknown): string {
    const request = validate(ServicesRequest, body);
    const summaries = this.deps.store.serviceSummaries(this.deps.wallClock()).sort(byName);
    const page = renderPage(
      summaries,
      (s) => s.name,
      (s) => JSON.stringify(s),
      request,
      this.replyBudget(),
    );
    return `{"ok":true,"services":${page.json}${nextCursorField(page)}}`;
  }

  /**
   * A watch's starting point: live instances with the version of each, which change events
   * carry too, so a watcher can tell newer events from ones its snapshot already holds. With
   * `since`, only what changed after that version (`full: false`, deletions under `removed`),
   * unless deletions that old may be collected (`full: true`, the whole service). `asOf` is the
   * newest version held of the service, so a watcher knows what an absent key means; `at` is
   * the node's clock when it answered, where the watcher's next resync can start from.
   */
  private snapshot(body: unknown): string {
    const request = validate(SnapshotRequest, body);
    const { service, since } = request;
    const { store } = this.deps;
    const now = this.deps.wallClock();
    const budget = this.replyBudget();
    let diff = since === undefined ? undefined : store.serviceChangesSince(service, since, now);
    // Deletions travel on the first page only, and only if they fit beside it; otherwise the
    // whole service is the smaller answer anyway. Decided the same way for every page.
    let removed = "";
    if (diff !== undefined) {
      removed = `,"removed":[${diff.removed.map((e) => `{"id":${JSON.stringify(e.id)},"version":${e.hlc}}`).join(",")}]`;
      if (Buffer.byteLength(removed) > budget / 2) diff = undefined;
      if (diff === undefined || request.cursor !== undefined) removed = "";
    }
    const entries = (diff?.changed ?? this.live({ service })).sort(byId);
    const page = renderPage(
      entries,
      idOf,
      (e) => `{"id":${JSON.stringify(e.id)},"version":${e.hlc},"instance":${renderInstance(e)}}`,
      request,
      budget - Buffer.byteLength(removed),
    );
    return `{"ok":true,"service":${JSON.stringify(service)},"full":${diff === undefined},"asOf":${store.serviceHighWater(service)},"at":${packHlc(store.clock.wall(), 0)},"entries":${page.json}${nextCursorField(page)}${removed},"node":${JSON.stringify(this.deps.nodeId)}}`;
  }

  private parseJson(data: Uint8Array, emptyIsObject: boolean): unknown {
    if (data.length === 0) {
      if (emptyIsObject) return {};
      throw new RegistryError("invalid_request", "empty request: expected a JSON object");
    }
    try {
      return JSON.parse(this.encoder.decode(data));
    } catch (error) {
      throw new RegistryError(
        "invalid_request",
        `request is not valid UTF-8 JSON: ${(error as Error).message}`,
        undefined,
        {
          cause: error,
        },
      );
    }
  }
}

function idOf(entry: Entry): string {
  return entry.id;
}

/** The per-service subject's token must name the body's service (checked before validation,
 * so a mismatch is reported whatever else is wrong with the body). */
function checkScope(body: unknown, scope: string): void {
  const service =
    typeof body === "object" && body !== null ? (body as { service?: unknown }).service : undefined;
  if (service === scope) return;
  throw new RegistryError(
    "invalid_request",
    `the subject names service ${JSON.stringify(scope)} but the body names ${JSON.stringify(service ?? null)}`,
    [{ path: "service", message: `must equal the subject's service token "${scope}"` }],
  );
}

/** Requests that may carry a causal token: those that must see the client's own writes. */
const CAUSAL_ENDPOINTS: ReadonlySet<ClientEndpoint> = new Set([
  "heartbeat",
  "deregister",
  "lookup",
]);

/** A forwarded request's reply, as if served here: an error reply becomes the same error, so
 * it also travels in the micro error headers. */
function passOn(reply: string): string {
  if (!reply.startsWith('{"ok":false')) return reply;
  const { error } = JSON.parse(reply) as {
    error: { code: unknown; message: string; issues?: ValidationIssue[] };
  };
  const code = isErrorCode(error.code) ? error.code : "internal";
  throw new RegistryError(code, error.message, error.issues);
}

/** Removes the optional `token` from a request body (the body schemas do not know it). */
function takeToken(body: unknown): CausalMark[] | undefined {
  if (typeof body !== "object" || body === null || !("token" in body)) return undefined;
  const { token } = body as { token: unknown };
  delete (body as { token?: unknown }).token;
  return CausalWait.parse(token);
}

function validate<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  return validated(schema.safeParse(body));
}

function validated<T>(result: z.ZodSafeParseResult<T>): T {
  if (!result.success) {
    const issues = describeIssues(result.error);
    const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
    throw new RegistryError("invalid_request", `invalid request: ${summary}`, issues);
  }
  return result.data;
}
