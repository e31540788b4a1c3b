import {
  ENDPOINT_CHARS,
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
  TAG_CHARS,
} from "./instance-limits.js";

/**
 * A peer's body read once, as text, against the canonical rendering (instance.ts
 * `instanceBody`): no JSON.parse, no object, no second rendering to compare. A body a valid
 * node sent is its own canonical text, so this reads the fields in their canonical order with
 * their bounds, and the ttl and version the entry carries.
 *
 * It answers yes or "not sure", never no: true only when the full check (parse, schema, render,
 * compare) certainly finds nothing wrong. Anything unusual (an escape, a character outside
 * printable ASCII, a number it does not expect) is "not sure", and the full check decides and
 * words the defect. A property test holds it to that check.
 */
export function isCanonicalBody(body: string, ttlMs: number, ver: string): boolean {
  text = body;
  at = 0;
  const host = stringField('{"host":', 1, MAX_HOST_CHARS);
  if (host === undefined || !isHostAddress(host)) return false;
  if (integerField(',"port":', 1, MAX_PORT) < 0) return false;
  const version = optionalString(',"version":', 0, MAX_SHORT_TEXT_CHARS);
  if (version === undefined || version !== ver) return false;
  if (optionalString(',"environment":', 0, MAX_SHORT_TEXT_CHARS) === undefined) return false;
  if (optionalString(',"region":', 0, MAX_SHORT_TEXT_CHARS) === undefined) return false;
  if (!optionalMap(',"tags":', TAG_CHARS)) return false;
  if (!optionalList(',"capabilities":')) return false;
  if (!optionalList(',"dependencies":')) return false;
  if (!optionalMap(',"endpoints":', ENDPOINT_CHARS)) return false;
  if (integerField(',"weight":', 1, MAX_WEIGHT) < 0) return false;
  if (optionalString(',"healthCheckUrl":', 1, MAX_URL_CHARS) === undefined) return false;
  const bodyTtl = integerField(',"ttlMs":', MIN_TTL_MS, MAX_TTL_MS);
  if (bodyTtl < 0 || bodyTtl !== ttlMs) return false;
  return take("}") && at === text.length;
}

/** The text being read and the position reached: one body at a time, never re-entered. */
let text = "";
let at = 0;

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

function take(literal: string): boolean {
  if (!text.startsWith(literal, at)) return false;
  at += literal.length;
  return true;
}

/**
 * A quoted string of min..max characters of plain text (`isPlainText`): the rendering writes
 * such a string as itself between quotes. Anything else, an escaped quote included (its
 * backslash is not plain), is "not sure".
 */
function plainString(min: number, max: number): string | undefined {
  if (text[at] !== '"') return undefined;
  const end = text.indexOf('"', at + 1);
  if (end < 0) return undefined;
  const value = text.slice(at + 1, end);
  if (value.length < min || value.length > max || !isPlainText(value)) return undefined;
  at = end + 1;
  return value;
}

function stringField(name: string, min: number, max: number): string | undefined {
  return take(name) ? plainString(min, max) : undefined;
}

/** A field left out reads as "" (a version left out is the entry's ""); undefined: not sure. */
function optionalString(name: string, min: number, max: number): string | undefined {
  return text.startsWith(name, at) ? stringField(name, min, max) : "";
}

/** A whole number min..max with no sign, exponent or leading zero, or -1. */
function integerField(name: string, min: number, max: number): number {
  if (!take(name)) return -1;
  const start = at;
  let value = 0;
  for (;;) {
    const c = text.charCodeAt(at);
    if (!(c >= DIGIT_0 && c <= DIGIT_9)) break;
    value = value * 10 + (c - DIGIT_0);
    at++;
  }
  const digits = at - start;
  if (digits === 0 || text.charCodeAt(start) === DIGIT_0) return -1;
  return value >= min && value <= max ? value : -1;
}

/** `{"key":"value",…}`: at most MAX_MAP_KEYS keys in strictly ascending order (the rendering
 * sorts them, and a repeated key would render once). */
function optionalMap(name: string, values: { min: number; max: number }): boolean {
  if (!text.startsWith(name, at)) return true;
  at += name.length;
  if (!take("{")) return false;
  if (take("}")) return true;
  let previous: string | undefined;
  for (let count = 1; count <= MAX_MAP_KEYS; count++) {
    const key = plainString(1, MAX_MAP_KEY_CHARS);
    if (key === undefined || (previous !== undefined && key <= previous)) return false;
    if (!take(":") || plainString(values.min, values.max) === undefined) return false;
    if (take("}")) return true;
    if (!take(",")) return false;
    previous = key;
  }
  return false;
}

/** `["item",…]`: at most MAX_MAP_KEYS items of short text. */
function optionalList(name: string): boolean {
  if (!text.startsWith(name, at)) return true;
  at += name.length;
  if (!take("[")) return false;
  if (take("]")) return true;
  for (let count = 1; count <= MAX_MAP_KEYS; count++) {
    if (plainString(0, MAX_SHORT_TEXT_CHARS) === undefined) return false;
    if (take("]")) return true;
    if (!take(",")) return false;
  }
  return false;
}
