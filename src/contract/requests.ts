import { z } from "zod";
import { instanceId, serviceName, status } from "../core/instance.js";
import type { LookupQuery } from "../core/lookup.js";

/** Items per page when a request names no limit; bytes bound a page too (see `replyBudget`). */
export const DEFAULT_PAGE_LIMIT = 1_000;
export const MAX_PAGE_LIMIT = 10_000;

/** `limit` and `cursor` of the paged reads (`lookup`, `snapshot`, `services`). The cursor is
 * the `nextCursor` of the previous page, opaque to clients. */
export const PageFields = {
  limit: z.int().min(1).max(MAX_PAGE_LIMIT).optional(),
  cursor: z.string().min(1).max(256).optional(),
};

export interface PageRequest {
  limit?: number;
  cursor?: string;
}

/** Request bodies of the client API other than `register` (whose body is an instance). */
export const HeartbeatRequest = z.strictObject({
  service: serviceName,
  id: instanceId,
  status: status.optional(),
});
export const DeregisterRequest = z.strictObject({ service: serviceName, id: instanceId });

/** Orders a lookup may ask for: `region` ranks the caller's region first (docs/client.md). */
export const LOOKUP_PREFERENCES = ["region"] as const;

/** A lookup: the filters, plus how to order the answer and whether to add region freshness. */
export interface LookupRequestBody extends LookupQuery {
  /** With "region", `region` names the caller's region (default: the answering node's) and
   * ranks its instances first instead of filtering the others out. */
  prefer?: (typeof LOOKUP_PREFERENCES)[number];
  /** Add how current the answering node is with each region (`regions` in the reply). */
  regions?: boolean;
}

const filterText = z.string().max(128);
export const LookupRequest: z.ZodType<LookupRequestBody & PageRequest> = z.strictObject({
  ...PageFields,
  service: serviceName,
  status: status.optional(),
  region: filterText.optional(),
  environment: filterText.optional(),
  version: filterText.optional(),
  tags: z
    .record(z.string().min(1).max(128), z.string().max(256))
    .refine((t) => Object.keys(t).length <= 64, { message: "at most 64 tags" })
    .optional(),
  prefer: z.enum(LOOKUP_PREFERENCES).optional(),
  regions: z.boolean().optional(),
});
export const ServicesRequest = z.strictObject({ ...PageFields });
/** `since`: the newest version the watch holds; the reply then carries only what changed.
 * Independent of paging: `limit`/`cursor` page the entries either way. */
export const SnapshotRequest = z.strictObject({
  service: serviceName,
  since: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  ...PageFields,
});
