import type { Entry } from "./entry.js";
import { parseBody, type Status } from "./instance.js";

/** `registry.lookup`: a service and optional filters, all of which must match. */
export interface LookupQuery {
  service: string;
  status?: Status;
  region?: string;
  environment?: string;
  version?: string;
  tags?: Record<string, string>;
}

/**
 * Whether a live entry passes the query's filters. Status is a field of the entry; the other
 * filters look into the body text first (a substring test rejects most entries without parsing)
 * and parse only the candidates that might match.
 */
export function matchesQuery(entry: Entry, query: LookupQuery): boolean {
  if (query.status !== undefined && entry.status !== query.status) return false;
  if (query.version !== undefined && entry.ver !== query.version) return false;
  if (query.region === undefined && query.environment === undefined && query.tags === undefined) {
    return true;
  }
  const body = entry.body!;
  for (const needle of bodyNeedles(query)) if (!body.includes(needle)) return false;
  const instance = parseBody(body);
  if (query.region !== undefined && instance.region !== query.region) return false;
  if (query.environment !== undefined && instance.environment !== query.environment) return false;
  if (query.tags !== undefined) {
    const tags = instance.tags ?? {};
    for (const [key, value] of Object.entries(query.tags)) if (tags[key] !== value) return false;
  }
  return true;
}

/** Text that must occur in the body of any entry that matches: the JSON of each filtered value. */
function bodyNeedles(query: LookupQuery): string[] {
  const needles: string[] = [];
  if (query.region !== undefined) needles.push(JSON.stringify(query.region));
  if (query.environment !== undefined) needles.push(JSON.stringify(query.environment));
  if (query.tags !== undefined) {
    for (const value of Object.values(query.tags)) needles.push(JSON.stringify(value));
  }
  return needles;
}
