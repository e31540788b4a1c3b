import { NODE_ID } from "../contract/ids.js";
import { isCount } from "../core/count.js";
import { REGION_NAME } from "../core/region.js";
import {
  type Announce,
  DIGEST_HEX,
  MAX_ACCEPT_CHARS,
  MAX_ACCEPTS,
  MAX_EPOCH_CHARS,
  NONCE_HEX,
} from "./messages.js";

/**
 * An announcement as `AnnounceSchema` would parse it, checked in one pass: the answer when the
 * message is well formed, or undefined ("not sure"), and the schema decides and words the issue.
 * Every peer sends one per write burst; on the objects msgpack decodes, at 10 entries an
 * announcement, zod takes ~0.26 µs per entry and this ~0.05–0.07 (`npm run bench -- peer-apply`,
 * its in-process rows).
 * test/sync/announce-fast-path.test.ts holds it to the schema: whatever it accepts, the schema
 * accepts with a deep-equal output, and every well-formed announcement takes it.
 */
export function acceptedAnnounce(value: unknown): Announce | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const m = value as Record<string, unknown>;
  // A key the schema does not know would be stripped from its output: the schema decides.
  for (const key in m) if (!Object.hasOwn(KNOWN, key)) return undefined;
  if (
    m.type !== "announce" ||
    !isCount(m.v) ||
    m.v < 1 ||
    typeof m.node !== "string" ||
    !NODE_ID.test(m.node) ||
    typeof m.epoch !== "string" ||
    m.epoch.length < 1 ||
    m.epoch.length > MAX_EPOCH_CHARS ||
    !isCount(m.seq) ||
    typeof m.digest !== "string" ||
    !DIGEST_HEX.test(m.digest) ||
    !isCount(m.count) ||
    !isCount(m.at)
  )
    return undefined;
  const out: Announce = {
    type: "announce",
    v: m.v,
    node: m.node,
    epoch: m.epoch,
    seq: m.seq,
    digest: m.digest,
    count: m.count,
    accepts: [],
    at: m.at,
  };
  if ("from" in m) {
    if (!isCount(m.from)) return undefined;
    out.from = m.from;
  }
  if ("entries" in m) {
    if (!Array.isArray(m.entries)) return undefined;
    out.entries = m.entries;
  }
  if ("accepts" in m) {
    const accepts = m.accepts;
    if (!Array.isArray(accepts) || accepts.length > MAX_ACCEPTS) return undefined;
    for (const a of accepts)
      if (typeof a !== "string" || a.length > MAX_ACCEPT_CHARS) return undefined;
    out.accepts = [...(accepts as string[])];
  }
  if ("leaving" in m) {
    if (typeof m.leaving !== "boolean") return undefined;
    out.leaving = m.leaving;
  }
  if ("periodic" in m) {
    if (typeof m.periodic !== "boolean") return undefined;
    out.periodic = m.periodic;
  }
  if ("region" in m) {
    if (typeof m.region !== "string" || !REGION_NAME.test(m.region)) return undefined;
    out.region = m.region;
  }
  if ("nonce" in m) {
    if (typeof m.nonce !== "string" || !NONCE_HEX.test(m.nonce)) return undefined;
    out.nonce = m.nonce;
  }
  return out;
}

const KNOWN: Readonly<Record<string, true>> = {
  type: true,
  v: true,
  node: true,
  epoch: true,
  seq: true,
  digest: true,
  count: true,
  from: true,
  entries: true,
  accepts: true,
  leaving: true,
  periodic: true,
  region: true,
  at: true,
  nonce: true,
};
