import { hlcWall } from "../core/hlc.js";
import type { LookupQuery } from "../core/lookup.js";
import type { Entry, RegistryStore } from "../core/mod.js";
import { renderInstance } from "../core/render.js";

/**
 * What the status page shows beside the fleet: services, one service's instances, and the
 * latest changes, read from this node's replica (so the page works while the fleet does not).
 * Plain data for `/api/*`; the page renders and escapes it.
 */

/** Instances listed for one service at most; the page says when there are more. */
export const MAX_LISTED_INSTANCES = 500;
/** Latest changes shown. */
export const RECENT_CHANGES = 30;

export interface DashboardInstance {
  id: string;
  host: string;
  port: number;
  status: string;
  version?: string;
  region?: string;
  environment?: string;
  tags?: Record<string, string>;
  node: string;
  leaseLeftMs: number;
}

export interface DashboardChange {
  seq: number;
  service: string;
  id: string;
  /** registered (first write), renewed (heartbeat or update) or deregistered (tombstone). */
  type: "registered" | "renewed" | "deregistered";
  status: string;
  node: string;
  /** Wall-clock ms of the write. */
  at: number;
}

export function dashboardServices(
  store: RegistryStore,
  now: number,
): { name: string; instances: number; healthy: number }[] {
  return store.serviceSummaries(now);
}

export function dashboardInstances(
  store: RegistryStore,
  query: LookupQuery,
  now: number,
): { instances: DashboardInstance[]; total: number } {
  const entries = store.lookup(query, now);
  const instances = entries.slice(0, MAX_LISTED_INSTANCES).map((entry) => {
    const full = JSON.parse(renderInstance(entry)) as DashboardInstance & { expiresAt: number };
    return {
      id: full.id,
      host: full.host,
      port: full.port,
      status: full.status,
      version: full.version,
      region: full.region,
      environment: full.environment,
      tags: full.tags,
      node: full.node,
      leaseLeftMs: Math.max(0, full.expiresAt - now),
    };
  });
  return { instances, total: entries.length };
}

export function dashboardChanges(store: RegistryStore): DashboardChange[] {
  const page = store.changesSince(Math.max(0, store.seq - RECENT_CHANGES * 4), {
    maxEntries: RECENT_CHANGES * 4,
    maxBytes: Number.MAX_SAFE_INTEGER,
  });
  return (page.records as readonly Entry[])
    .slice(-RECENT_CHANGES)
    .reverse()
    .map((entry) => {
      const at = hlcWall(entry.hlc);
      return {
        seq: entry.seq,
        service: entry.service,
        id: entry.id,
        type:
          entry.body === null
            ? "deregistered"
            : at === entry.registeredAt
              ? "registered"
              : "renewed",
        status: entry.status,
        node: entry.node,
        at,
      };
    });
}

const STATUSES = new Set(["starting", "running", "stopping", "stopped", "unhealthy", "unknown"]);

/** A lookup from the page's query string (`service`, `status`, `region`, `environment`,
 * `version`, repeated `tag=k=v`); an error message for input the API would refuse. */
export function queryFromSearch(params: URLSearchParams): LookupQuery | { problem: string } {
  const service = params.get("service") ?? "";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(service)) {
    return { problem: "service must be 1-64 characters of [A-Za-z0-9_-]" };
  }
  const query: LookupQuery = { service };
  const status = params.get("status");
  if (status) {
    if (!STATUSES.has(status)) return { problem: `unknown status "${status}"` };
    query.status = status as LookupQuery["status"];
  }
  for (const key of ["region", "environment", "version"] as const) {
    const value = params.get(key);
    if (value) query[key] = value;
  }
  const tags: Record<string, string> = {};
  for (const pair of params.getAll("tag")) {
    const at = pair.indexOf("=");
    if (at <= 0) return { problem: `tag takes key=value, got "${pair}"` };
    tags[pair.slice(0, at)] = pair.slice(at + 1);
  }
  if (Object.keys(tags).length > 0) query.tags = tags;
  return query;
}
