import type { InstanceBody } from "./instance.js";
import {
  DEFAULT_TTL_MS,
  DEFAULT_WEIGHT,
  ENDPOINT_CHARS,
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
  TAG_CHARS,
} from "./instance-limits.js";

/**
 * The body fields of the instance schema checked in one pass over a freshly parsed body, with
 * no object of its own. Every peer entry and every bootstrapped entry is checked, and the zod
 * schema cost about a third of that; most bodies are valid, so only the doubtful ones need it.
 *
 * It answers yes or "not sure", never no: the body itself, with `weight` and `ttlMs` defaults
 * filled in, when the schema certainly accepts it with that output; undefined for anything
 * else, and the schema then decides and words the issue. It fills the defaults in place, so
 * it takes a body no one else holds. A property test holds it to the schema.
 */
export function acceptedBody(parsed: object): InstanceBody | undefined {
  const body = parsed as Record<string, unknown>;
  let hasHost = false;
  let hasPort = false;
  let hasWeight = false;
  let hasTtl = false;
  for (const field in body) {
    if (!Object.hasOwn(body, field)) return undefined;
    const value = body[field];
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
      default:
        return undefined;
    }
  }
  if (!hasHost || !hasPort) return undefined;
  if (!hasWeight) body.weight = DEFAULT_WEIGHT;
  if (!hasTtl) body.ttlMs = DEFAULT_TTL_MS;
  return body as unknown as InstanceBody;
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
