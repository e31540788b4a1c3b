import type { Instance, InstanceBody } from "./instance.js";
import {
  DEFAULT_STATUS,
  DEFAULT_TTL_MS,
  DEFAULT_WEIGHT,
  ENDPOINT_CHARS,
  INSTANCE_ID,
  isHostAddress,
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

/**
 * The instance schema checked in one pass over a freshly parsed object, with no object of its
 * own. Every registration, every peer entry and every bootstrapped entry is checked, and the zod
 * schema cost about a third of checking a peer's entry; most of them are valid, so only the
 * doubtful ones need it.
 *
 * It answers yes or "not sure", never no: the object itself, completed as the schema would
 * complete it, when the schema certainly accepts it with that output; undefined for anything
 * else, and the schema then decides and words the issue. It completes the object in place, so
 * it takes one no one else holds. A property test holds it to the schema.
 */
export function acceptedBody(parsed: object): InstanceBody | undefined {
  return accepted(parsed, false) as InstanceBody | undefined;
}

/** `acceptedBody` for a client's registration (`InstanceSchema`): the key and status too, and
 * the fields the registry sets dropped, as the schema drops them. */
export function acceptedInstance(parsed: object): Instance | undefined {
  return accepted(parsed, true) as Instance | undefined;
}

function accepted(parsed: object, registration: boolean): object | undefined {
  const fields = parsed as Record<string, unknown>;
  let hasHost = false;
  let hasPort = false;
  let hasWeight = false;
  let hasTtl = false;
  let keyFields = 0;
  let hasStatus = false;
  let serverFields = 0;
  for (const field in fields) {
    if (!Object.hasOwn(fields, field)) return undefined;
    const value = fields[field];
    switch (field) {
      case "host":
        if (!isText(value, 1, MAX_HOST_CHARS) || !isHostAddress(value)) return undefined;
        hasHost = true;
        break;
      case "port":
        if (!isIntegerIn(value, 1, MAX_PORT)) return undefined;
        hasPort = true;
        break;
      case "version":
      case "environment":
      case "region":
        if (!isText(value, 0, MAX_SHORT_TEXT_CHARS)) return undefined;
        break;
      case "tags":
        if (!isBoundedMap(value, TAG_CHARS)) return undefined;
        break;
      case "endpoints":
        if (!isBoundedMap(value, ENDPOINT_CHARS)) return undefined;
        break;
      case "capabilities":
      case "dependencies":
        if (!isShortTextList(value)) return undefined;
        break;
      case "weight":
        if (!isIntegerIn(value, 1, MAX_WEIGHT)) return undefined;
        hasWeight = true;
        break;
      case "healthCheckUrl":
        if (!isText(value, 1, MAX_URL_CHARS)) return undefined;
        break;
      case "ttlMs":
        if (!isIntegerIn(value, MIN_TTL_MS, MAX_TTL_MS)) return undefined;
        hasTtl = true;
        break;
      case "service":
        if (!registration || typeof value !== "string" || !SERVICE_NAME.test(value))
          return undefined;
        keyFields++;
        break;
      case "id":
        if (!registration || typeof value !== "string" || !INSTANCE_ID.test(value))
          return undefined;
        keyFields++;
        break;
      case "status":
        if (!registration || !(STATUSES as readonly unknown[]).includes(value)) return undefined;
        hasStatus = true;
        break;
      case "registeredAt":
      case "lastHeartbeat":
      case "expiresAt":
      case "node":
        if (!registration) return undefined;
        serverFields++;
        break;
      default:
        return undefined;
    }
  }
  if (!hasHost || !hasPort || (registration && keyFields !== 2)) return undefined;
  if (serverFields > 0) for (const field of SERVER_FIELDS) delete fields[field];
  if (registration && !hasStatus) fields.status = DEFAULT_STATUS;
  if (!hasWeight) fields.weight = DEFAULT_WEIGHT;
  if (!hasTtl) fields.ttlMs = DEFAULT_TTL_MS;
  return fields;
}

function isText(value: unknown, min: number, max: number): value is string {
  return typeof value === "string" && value.length >= min && value.length <= max;
}

function isIntegerIn(value: unknown, min: number, max: number): boolean {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

function isShortTextList(value: unknown): boolean {
  if (!Array.isArray(value) || value.length > MAX_MAP_KEYS) return false;
  for (let i = 0; i < value.length; i++)
    if (!isText(value[i], 0, MAX_SHORT_TEXT_CHARS)) return false;
  return true;
}

function isBoundedMap(value: unknown, chars: { min: number; max: number }): boolean {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const map = value as Record<string, unknown>;
  let keys = 0;
  for (const key in map) {
    if (!Object.hasOwn(map, key) || ++keys > MAX_MAP_KEYS) return false;
    if (key.length < 1 || key.length > MAX_MAP_KEY_CHARS) return false;
    if (!isText(map[key], chars.min, chars.max)) return false;
  }
  return true;
}
