import { RegistryClientError } from "./errors.js";

/** A paged reply: the node sets `nextCursor` when more items follow. */
export type Paged<T> = T & { nextCursor?: string };

/** Most pages one read follows: far beyond any real service (10,000 pages of up to 1,000
 * items), and a bound against a node that never stops paging. */
const MAX_PAGES = 10_000;

/**
 * Reads every page of a paged read (`lookup`, `snapshot`, `services`): the node bounds each
 * reply to fit the server's max_payload, and the client stitches the pages together. Pages may
 * come from different nodes (queue group), each holding a replica; keyset cursors keep them
 * from overlapping.
 */
export async function followPages<T>(
  fetchPage: (cursor: { cursor?: string }) => Promise<{ items: T[]; nextCursor?: string }>,
): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const page = await fetchPage(cursor === undefined ? {} : { cursor });
    if (!Array.isArray(page.items)) {
      throw new RegistryClientError("internal", "the node's reply holds no list of items");
    }
    all.push(...page.items);
    if (page.nextCursor === undefined) return all;
    if (typeof page.nextCursor !== "string" || page.nextCursor === cursor) {
      throw new RegistryClientError("internal", "the node's reply has an unusable nextCursor");
    }
    cursor = page.nextCursor;
  }
  throw new RegistryClientError("internal", `more than ${MAX_PAGES} pages; giving up`);
}

/**
 * Refuses a reply that holds an instance of another service. A node answers the reply subject a
 * request names; a reply sent to this client's inbox for someone else's request must never be
 * taken for the answer to this one.
 */
export function checkServiceOf(service: string, instances: readonly { service?: unknown }[]) {
  for (const instance of instances) {
    if (instance?.service !== service) {
      throw new RegistryClientError(
        "internal",
        `the reply holds an instance of service ${JSON.stringify(instance?.service)}, not of ${JSON.stringify(service)}; refused`,
      );
    }
  }
}
