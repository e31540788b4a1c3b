import { DEFAULT_PAGE_LIMIT, type PageRequest } from "../contract/requests.js";
import { RegistryError } from "../errors.js";

/**
 * Share of the server's max_payload a page may fill: the rest is room for the reply's envelope
 * and headers, so a page is never dropped by the server for its size.
 */
const PAGE_SHARE_OF_MAX_PAYLOAD = 0.75;

export function replyBudget(maxPayload: number): number {
  return Math.floor(maxPayload * PAGE_SHARE_OF_MAX_PAYLOAD);
}

export interface RenderedPage {
  /** The items of the page as a JSON array. */
  json: string;
  /** Where the next page starts; absent on the last page. */
  nextCursor?: string;
}

/**
 * One page of `sorted` (ordered by `keyOf`, keys unique): the items after the cursor, up to the
 * limit and up to `budgetBytes` of JSON. Keyset paging: a page starts after the last key seen,
 * so items added or removed between pages never shift the others.
 */
export function renderPage<T>(
  sorted: readonly T[],
  keyOf: (item: T) => string,
  render: (item: T) => string,
  request: PageRequest,
  budgetBytes: number,
): RenderedPage {
  const limit = request.limit ?? DEFAULT_PAGE_LIMIT;
  let index = request.cursor === undefined ? 0 : firstAfter(sorted, keyOf, request.cursor);
  let json = "[";
  let bytes = 2;
  let count = 0;
  while (index < sorted.length && count < limit) {
    const text = render(sorted[index]!);
    const size = Buffer.byteLength(text) + 1;
    if (bytes + size > budgetBytes) {
      if (count === 0) {
        throw new RegistryError(
          "payload_too_large",
          `one item of ${size} bytes exceeds the reply budget of ${budgetBytes} bytes (3/4 of the NATS server's max_payload)`,
        );
      }
      break;
    }
    json += count === 0 ? text : `,${text}`;
    bytes += size;
    count++;
    index++;
  }
  json += "]";
  if (index >= sorted.length) return { json };
  return { json, nextCursor: keyOf(sorted[index - 1]!) };
}

function firstAfter<T>(sorted: readonly T[], keyOf: (item: T) => string, cursor: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (keyOf(sorted[mid]!) <= cursor) low = mid + 1;
    else high = mid;
  }
  return low;
}

export function byKey<T>(keyOf: (item: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = keyOf(a);
    const y = keyOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/** `,"nextCursor":"…"` when there is a next page. */
export function nextCursorField(page: RenderedPage): string {
  return page.nextCursor === undefined ? "" : `,"nextCursor":${JSON.stringify(page.nextCursor)}`;
}
