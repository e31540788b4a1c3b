import { z } from "zod";
import { isCanonicalBody } from "./canonical-body.js";
import { acceptedBody, acceptedInstance } from "./instance-fast-path.js";
import {
  DEFAULT_STATUS,
  DEFAULT_TTL_MS,
  DEFAULT_WEIGHT,
  ENDPOINT_CHARS,
  INSTANCE_ID,
  isHostAddress,
  isPlainText,
  MAX_HOST_CHARS,
  MAX_MAP_KEY_CHARS,
  MAX_MAP_KEYS,
  MAX_PORT,
  MAX_SHORT_TEXT_CHARS,
  MAX_TTL_MS,
  MAX_URL_CHARS,
  MAX_WEIGHT,
  MIN_TTL_MS,
  SERVER_FIELDS,
  SERVICE_NAME,
  STATUSES,
  TAG_CHARS,
} from "./instance-limits.js";

export {
  DEFAULT_TTL_MS,
  DEFAULT_WEIGHT,
  INSTANCE_ID,
  isHostAddress,
  MAX_TTL_MS,
  MIN_TTL_MS,
  SERVICE_NAME,
  STATUSES,
  type Status,
} from "./instance-limits.js";

const shortText = z.string().max(MAX_SHORT_TEXT_CHARS);
const url = z.string().min(1).max(MAX_URL_CHARS);

/**
 * A map of at most MAX_MAP_KEYS strings: keys of 1-128 characters, values within `chars`.
 * Checked in one pass: z.record runs every key and value through a schema of its own (about
 * 0.6 µs a key), which made two small maps half of what checking a peer's entry cost, and a
 * bootstrap checks every entry. The issues name the key, as z.record's do.
 */
function boundedMap(chars: { min: number; max: number }) {
  return z.custom<Record<string, string>>().superRefine((map, ctx) => {
    if (map === null || typeof map !== "object" || Array.isArray(map)) {
      ctx.addIssue({ code: "custom", message: "expected an object of strings" });
      return;
    }
    const keys = Object.keys(map);
    if (keys.length > MAX_MAP_KEYS)
      ctx.addIssue({ code: "custom", message: `at most ${MAX_MAP_KEYS} keys` });
    for (const key of keys) {
      if (key.length < 1 || key.length > MAX_MAP_KEY_CHARS)
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `keys are 1-${MAX_MAP_KEY_CHARS} characters`,
        });
      const value: unknown = map[key];
      if (typeof value !== "string" || value.length < chars.min || value.length > chars.max)
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `a string of ${chars.min}-${chars.max} characters`,
        });
    }
  });
}

export const serviceName = z
  .string()
  .regex(SERVICE_NAME, "1-64 characters of [A-Za-z0-9_-] (one NATS subject token)");
export const instanceId = z.string().regex(INSTANCE_ID, "1-128 characters of [A-Za-z0-9_.:-]");
export const status = z.enum(STATUSES);

const instanceFields = z.strictObject({
  service: serviceName,
  id: instanceId,
  host: z
    .string()
    .min(1)
    .max(MAX_HOST_CHARS)
    .refine(isHostAddress, { message: "a host name (RFC 1123) or an IP address" }),
  port: z.int().min(1).max(MAX_PORT),
  status: status.default(DEFAULT_STATUS),
  version: shortText.optional(),
  environment: shortText.optional(),
  region: shortText.optional(),
  tags: boundedMap(TAG_CHARS).optional(),
  capabilities: z.array(shortText).max(MAX_MAP_KEYS).optional(),
  dependencies: z.array(shortText).max(MAX_MAP_KEYS).optional(),
  endpoints: boundedMap(ENDPOINT_CHARS).optional(),
  weight: z.int().min(1).max(MAX_WEIGHT).default(DEFAULT_WEIGHT),
  healthCheckUrl: url.optional(),
  ttlMs: z.int().min(MIN_TTL_MS).max(MAX_TTL_MS).default(DEFAULT_TTL_MS),
});

/** The registration request of DESIGN.md §2, with defaults applied. */
export const InstanceSchema = z.preprocess((raw) => {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const copy: Record<string, unknown> = { ...raw };
  for (const field of SERVER_FIELDS) delete copy[field];
  return copy;
}, instanceFields);

export type Instance = z.output<typeof instanceFields>;

/**
 * `InstanceSchema.safeParse` with the single-pass check first: the same result, and for a valid
 * registration no zod at all. It may complete `raw` in place, so it takes a freshly parsed
 * request.
 */
export function checkInstance(raw: unknown): z.ZodSafeParseResult<Instance> {
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const instance = acceptedInstance(raw);
    if (instance !== undefined) return { success: true, data: instance };
  }
  return InstanceSchema.safeParse(raw);
}
export type InstanceInput = z.input<typeof instanceFields>;

function quote(value: unknown): string {
  return typeof value === "string" && isPlainText(value) ? `"${value}"` : JSON.stringify(value);
}

/** `,"name":{"a":"…","b":"…"}` with keys sorted, so equal maps always read the same. */
function sortedMap(name: string, map: Record<string, string> | undefined): string {
  if (map === undefined) return "";
  const keys = Object.keys(map);
  // Insertion sort: maps hold a handful of keys, where it beats Array.prototype.sort.
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  let out = `,"${name}":{`;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (i > 0) out += ",";
    out += `${quote(key)}:${quote(map[key])}`;
  }
  return `${out}}`;
}

function optional(name: string, value: unknown): string {
  return value === undefined ? "" : `,"${name}":${quote(value)}`;
}

/** Regular-expression matching flattens a string built by concatenation into one buffer. */
const FLATTEN = /^\{/;

/**
 * The canonical text of an instance's descriptive fields: everything but the key (service and
 * id, held by the entry), `status` and the lease timestamps, which change on heartbeats.
 * Entries keep this text instead of an object graph, and lookups splice it into replies
 * without re-serialising. Built by hand: JSON.stringify's result carries slack that cost
 * ~200 bytes per entry, and the intermediate objects cost time.
 */
export function instanceBody(instance: InstanceBody): string {
  const body =
    `{"host":${quote(instance.host)},"port":${instance.port}` +
    optional("version", instance.version) +
    optional("environment", instance.environment) +
    optional("region", instance.region) +
    sortedMap("tags", instance.tags) +
    optional("capabilities", instance.capabilities) +
    optional("dependencies", instance.dependencies) +
    sortedMap("endpoints", instance.endpoints) +
    `,"weight":${instance.weight}` +
    optional("healthCheckUrl", instance.healthCheckUrl) +
    `,"ttlMs":${instance.ttlMs}}`;
  FLATTEN.test(body);
  return body;
}

/** The descriptive fields as stored in an entry body. */
export type InstanceBody = Omit<Instance, "status" | "service" | "id">;

export function parseBody(body: string): InstanceBody {
  return JSON.parse(body) as InstanceBody;
}

/** Formats zod issues as `field: message` lines a client can act on. */
export function describeIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(root)",
    message: issue.message,
  }));
}

/** What an entry holds outside its body, which a body must agree with. */
export interface BodyContext {
  ttlMs: number;
  /** The instance's `version` as the entry carries it ("" when absent). */
  ver: string;
}

/** The fields a body holds, checked by the same definitions as a registration. Strict: a
 * body holding `service`, `id`, `status` or a field the registry sets is refused, so it can
 * never make a lookup render another service or id. */
export const InstanceBodySchema = instanceFields.omit({ service: true, id: true, status: true });

/**
 * Checks a body from a peer exactly as a client's registration is checked: the instance schema
 * with its bounds, no field that belongs outside the body (the entry holds the key and status), agreement with the entry's `ttlMs`
 * and `ver`, and the canonical text `instanceBody` renders, so equal instances always travel,
 * hash and compare as equal text. Returns the defect, or undefined. A body a valid node sent is
 * read once as text (canonical-body.ts); only a doubtful one is parsed and rendered again.
 */
export function bodyDefect(body: string, context: BodyContext): string | undefined {
  if (isCanonicalBody(body, context.ttlMs, context.ver)) return undefined;
  return checkBody(body, context, acceptedBody);
}

/** `bodyDefect` by the schema alone, with no fast path: the reference the fast path is held to. */
export function schemaBodyDefect(body: string, context: BodyContext): string | undefined {
  return checkBody(body, context, notSure);
}

function notSure(): undefined {
  return undefined;
}

function checkBody(
  body: string,
  context: BodyContext,
  fastPath: (parsed: object) => InstanceBody | undefined,
): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return "body is not JSON";
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    return "body is not a JSON object";
  let instance = fastPath(parsed);
  if (instance === undefined) {
    const result = InstanceBodySchema.safeParse(parsed);
    if (!result.success) {
      const issue = describeIssues(result.error)[0];
      return `body is not a valid instance (${issue?.path}: ${issue?.message})`;
    }
    instance = result.data;
  }
  if (instance.ttlMs !== context.ttlMs) return "body's ttlMs differs from the entry's";
  if ((instance.version ?? "") !== context.ver) return "body's version differs from the entry's";
  if (instanceBody(instance) !== body) return "body is not in canonical form";
  return undefined;
}
