import type { NatsConnection } from "nats";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What reading a paged reply cost on the wire. */
export interface PagesRead {
  pages: number;
  bytes: number;
  largest: number;
}

/**
 * Reads every page of a paged request (`lookup`, `snapshot`, `services`) as raw NATS requests,
 * following `nextCursor`, to measure each page as the server carried it. Throws on an error
 * reply, and past `maxPages` (a cursor that never ends).
 */
export async function readRawPages(
  nc: NatsConnection,
  subject: string,
  request: Record<string, unknown>,
  maxPages = 1_000,
): Promise<PagesRead> {
  const read: PagesRead = { pages: 0, bytes: 0, largest: 0 };
  let cursor: string | undefined;
  do {
    if (read.pages === maxPages) throw new Error(`${subject}: more than ${maxPages} pages`);
    const reply = await nc.request(
      subject,
      encoder.encode(JSON.stringify({ ...request, ...(cursor ? { cursor } : {}) })),
      { timeout: 10_000 },
    );
    const body = JSON.parse(decoder.decode(reply.data));
    if (body.ok !== true) throw new Error(`${subject}: ${JSON.stringify(body.error)}`);
    read.pages++;
    read.bytes += reply.data.length;
    read.largest = Math.max(read.largest, reply.data.length);
    cursor = body.nextCursor;
  } while (cursor !== undefined);
  return read;
}
