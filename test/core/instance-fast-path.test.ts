/**
 * The single-pass instance check against the zod schemas it stands in for: whatever it accepts
 * the schema accepts with a deep-equal output, and a peer's body or a client's registration gets
 * the very same verdict with or without it. Likewise the text reader of peers' bodies
 * (canonical-body.ts): the same verdict as parsing, checking and rendering, on canonical bodies
 * and on bodies one edit away from canonical. REGSYNC_TEST_BODY_RUNS scales the runs (default
 * 20,000 per property); a failure prints its seed, and REGSYNC_TEST_BODY_SEED replays it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isCanonicalBody } from "../../src/core/canonical-body.js";
import { acceptedBody, acceptedInstance } from "../../src/core/instance-fast-path.js";
import {
  bodyDefect,
  checkInstance,
  describeIssues,
  InstanceBodySchema,
  InstanceSchema,
  instanceBody,
  STATUSES,
  schemaBodyDefect,
} from "../../src/core/mod.js";

const RUNS = Number(process.env.REGSYNC_TEST_BODY_RUNS ?? 20_000);
const SEED = Number(process.env.REGSYNC_TEST_BODY_SEED ?? Date.now() % 1_000_000);

const FIELDS = [
  "host",
  "port",
  "version",
  "environment",
  "region",
  "tags",
  "capabilities",
  "dependencies",
  "endpoints",
  "weight",
  "healthCheckUrl",
  "ttlMs",
] as const;
/** Keys a body must not hold, and keys that only look like fields. */
const STRANGERS = ["status", "service", "id", "node", "expiresAt", "__proto__", "0", "Host", ""];

/** Text of a given length, plain or not: lengths count UTF-16 units, as zod's do. */
function textOf(length: number): fc.Arbitrary<string> {
  return fc.constantFrom("a", "é", "\u{1F600}", '"', "\u202e").map((unit) => {
    const repeated = unit.repeat(Math.ceil(length / unit.length) + 1);
    return repeated.slice(0, length);
  });
}

const LENGTHS = [0, 1, 2, 63, 64, 65, 127, 128, 129, 252, 253, 254, 256, 257, 2047, 2048, 2049];
const INTEGER_EDGES = [
  -1,
  -0,
  0,
  1,
  2,
  99,
  100,
  999,
  1000,
  1001,
  65534,
  65535,
  65536,
  29_999,
  30_000,
  86_399_999,
  86_400_000,
  86_400_001,
  2 ** 53,
  1.5,
  1e300,
  -1e300,
];

const hostName = fc.domain().filter((h) => h.length <= 253);
const goodHost = fc.oneof(fc.ipV4(), fc.ipV6(), hostName, fc.constant("localhost"));
const badHost = fc.oneof(
  fc.constantFrom(
    "",
    "-a",
    "a-",
    "a..b",
    ".",
    "a b",
    "ho\u202est",
    "\u210Cost",
    "1.2.3.256",
    "fe80::1%eth0",
    `${"a".repeat(64)}.b`,
    `${"a".repeat(63)}.b`,
    `${"a.".repeat(126)}a`,
    `${"a.".repeat(127)}`,
    "_srv._tcp.example.",
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 10 }),
);
const shortText = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 5 }),
);
const url = fc.oneof(fc.webUrl(), fc.string({ minLength: 1, maxLength: 30 }));
const mapKey = fc.string({ minLength: 1, maxLength: 12 });
const tags = fc.dictionary(mapKey, fc.string({ maxLength: 12 }), { maxKeys: 6 });
const endpoints = fc.dictionary(mapKey, url, { maxKeys: 4 });
const textList = fc.array(shortText, { maxLength: 5 });

/** Bodies the schema accepts, some with defaults left out. */
const validBody: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    host: goodHost,
    port: fc.integer({ min: 1, max: 65535 }),
    version: shortText,
    environment: shortText,
    region: shortText,
    tags,
    capabilities: textList,
    dependencies: textList,
    endpoints,
    weight: fc.integer({ min: 1, max: 1000 }),
    healthCheckUrl: url,
    ttlMs: fc.integer({ min: 1_000, max: 86_400_000 }),
  },
  { requiredKeys: ["host", "port"] },
);

/** A map of `count` keys, with one key or value of a chosen length or type. */
function edgeMap(): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record({
      count: fc.constantFrom(0, 1, 63, 64, 65),
      keyLength: fc.constantFrom(0, 1, 128, 129),
      value: fc.oneof(
        fc.constantFrom(...LENGTHS).chain(textOf),
        fc.constantFrom(null, 1, true, {}, [] as unknown),
      ),
    })
    .chain(({ count, keyLength, value }) =>
      textOf(keyLength).map((oddKey) => {
        const map: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) map[`k${i}`] = "v";
        return withField(map, oddKey, value);
      }),
    );
}

function edgeList(): fc.Arbitrary<unknown[]> {
  return fc
    .record({
      count: fc.constantFrom(0, 1, 63, 64, 65),
      item: fc.oneof(fc.constantFrom(...LENGTHS).chain(textOf), fc.constantFrom(null, 1, {})),
    })
    .map(({ count, item }) => [...Array.from({ length: Math.max(0, count - 1) }, () => "c"), item]);
}

/** Values that break a field, or sit just inside or outside its bounds. */
const edgeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...INTEGER_EDGES),
  fc.constantFrom(...LENGTHS).chain(textOf),
  goodHost,
  badHost,
  edgeMap(),
  edgeList(),
  fc.constantFrom(null, true, false, "", {}, [], "80", [80]),
  fc.jsonValue({ maxDepth: 2 }),
);

/** A copy with one more field; defineProperty, so that a key named __proto__ is an own field, as
 * JSON.parse makes it. */
function withField(body: Record<string, unknown>, field: string, value: unknown) {
  const copy = { ...body };
  Object.defineProperty(copy, field, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return copy;
}

/** Valid objects with one to three fields broken, removed or added. */
function nearValid(
  valid: fc.Arbitrary<Record<string, unknown>>,
  fields: readonly string[],
): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(
      valid,
      fc.array(
        fc.oneof(
          fc.record({ field: fc.constantFrom(...fields, ...STRANGERS), value: edgeValue }),
          fc.record({ field: fc.constantFrom(...fields), value: fc.constant(undefined) }),
          fc.record({ field: fc.string({ maxLength: 8 }), value: edgeValue }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    )
    .map(([object, changes]) => {
      let changed = object;
      for (const { field, value } of changes) {
        if (value === undefined) {
          changed = { ...changed };
          delete changed[field];
        } else changed = withField(changed, field, value);
      }
      return changed;
    });
}

function anyOf(valid: fc.Arbitrary<Record<string, unknown>>, fields: readonly string[]) {
  return fc.oneof(
    { arbitrary: valid, weight: 3 },
    { arbitrary: nearValid(valid, fields), weight: 6 },
    { arbitrary: fc.dictionary(fc.constantFrom(...fields), edgeValue), weight: 1 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
  );
}

const anyBody: fc.Arbitrary<unknown> = anyOf(validBody, FIELDS);

const REGISTRATION_FIELDS = [
  ...FIELDS,
  "service",
  "id",
  "status",
  "registeredAt",
  "lastHeartbeat",
  "expiresAt",
  "node",
];

/** Registrations the schema accepts, some echoing the fields the registry sets. */
const validRegistration: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    validBody,
    fc.record(
      {
        service: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
        id: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,128}$/),
        status: fc.constantFrom(...STATUSES),
        registeredAt: fc.jsonValue({ maxDepth: 1 }),
        expiresAt: fc.integer(),
        node: fc.string({ maxLength: 8 }),
      },
      { requiredKeys: ["service", "id"] },
    ),
  )
  .map(([body, rest]) => ({ ...body, ...rest }));

const anyRegistration: fc.Arbitrary<unknown> = anyOf(validRegistration, REGISTRATION_FIELDS);

/** Through JSON and back, as a peer's body arrives; undefined for what JSON cannot hold. */
function asParsed(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : JSON.parse(text);
}

function settings(): fc.Parameters<[unknown]> {
  return { numRuns: RUNS, seed: SEED };
}

/** Whatever `fast` accepts, `schema` accepts with a deep-equal output; returns how many it accepted. */
function holdsToSchema(
  objects: fc.Arbitrary<unknown>,
  schema: { safeParse(value: unknown): { success: boolean; data?: unknown } },
  fast: (value: object) => object | undefined,
  prepare: (value: unknown) => unknown,
): number {
  let accepted = 0;
  fc.assert(
    fc.property(objects, (value) => {
      const object = prepare(value);
      if (object === null || typeof object !== "object" || Array.isArray(object)) return;
      const bySchema = schema.safeParse(object);
      const output = fast({ ...object });
      if (output === undefined) return;
      accepted++;
      assert.ok(bySchema.success, "the schema refused what the fast path accepted");
      assert.deepStrictEqual(output, bySchema.data);
    }),
    settings(),
  );
  return accepted;
}

for (const [name, objects, schema, fast] of [
  ["a peer's body", anyBody, InstanceBodySchema, acceptedBody],
  ["a registration", anyRegistration, InstanceSchema, acceptedInstance],
] as const) {
  test(`${name}: what the fast path accepts, the schema accepts with the same output (seed ${SEED})`, () => {
    const accepted = holdsToSchema(objects, schema, fast, asParsed);
    // The generators must reach the fast path often, or the property proves little.
    assert.ok(accepted > RUNS / 5, `the fast path accepted only ${accepted} of ${RUNS}`);
  });

  test(`${name}: the same holds for objects JSON cannot make (seed ${SEED})`, () => {
    holdsToSchema(objects, schema, fast, (value) => value);
  });
}

test(`checkInstance gives InstanceSchema's result for any registration (seed ${SEED})`, () => {
  fc.assert(
    fc.property(anyRegistration, (value) => {
      const parsed = asParsed(value);
      const bySchema = InstanceSchema.safeParse(parsed);
      const checked = checkInstance(parsed);
      assert.equal(checked.success, bySchema.success);
      if (checked.success) assert.deepStrictEqual(checked.data, bySchema.data);
      else assert.deepStrictEqual(describeIssues(checked.error), describeIssues(bySchema.error!));
    }),
    settings(),
  );
});

/** The body texts a peer may send: canonical ones, plain JSON, and reordered or padded ones. */
const bodyText: fc.Arbitrary<{ text: string; ttlMs: number; ver: string }> = fc
  .record({
    value: anyBody,
    // Mostly the body's own context and canonical text, so that many bodies are valid.
    form: fc.constantFrom(
      ...(["canonical", "canonical", "canonical", "json", "reversed", "padded"] as const),
    ),
    ttlMs: fc.constantFrom(...(["own", "own", "own", 30_000, 1_000] as const)),
    ver: fc.constantFrom(...(["own", "own", "own", "", "1.0"] as const)),
  })
  .map(({ value, form, ttlMs, ver }) => {
    const parsed = asParsed(value);
    const output = InstanceBodySchema.safeParse(parsed);
    const own = output.success ? output.data : { ttlMs: 30_000, version: undefined };
    let text = JSON.stringify(value) ?? "undefined";
    if (form === "canonical" && output.success) text = instanceBody(output.data);
    if (form === "reversed" && parsed !== null && typeof parsed === "object")
      text = JSON.stringify(Object.fromEntries(Object.entries(parsed).reverse()));
    if (form === "padded") text = ` ${text}`;
    return {
      text,
      ttlMs: ttlMs === "own" ? own.ttlMs : ttlMs,
      ver: ver === "own" ? (own.version ?? "") : ver,
    };
  });

/** Plain text (`isPlainText`): what the text reader takes as it stands. */
const plain = (max: number) =>
  fc.string({ unit: fc.constantFrom(..." !#az.:/-_~[]{}09"), maxLength: max });

/** Valid bodies whose every string is plain: those the text reader reads to the end. */
const plainBody = fc.record(
  {
    host: fc.oneof(fc.ipV4(), hostName),
    port: fc.integer({ min: 1, max: 65535 }),
    version: plain(20),
    environment: plain(20),
    region: plain(20),
    tags: fc.dictionary(
      plain(12).filter((k) => k.length > 0),
      plain(12),
      { maxKeys: 6 },
    ),
    capabilities: fc.array(plain(12), { maxLength: 5 }),
    dependencies: fc.array(plain(12), { maxLength: 5 }),
    endpoints: fc.dictionary(
      plain(12).filter((k) => k.length > 0),
      plain(30).filter((v) => v.length > 0),
      { maxKeys: 4 },
    ),
    weight: fc.integer({ min: 1, max: 1000 }),
    healthCheckUrl: plain(30).filter((v) => v.length > 0),
    ttlMs: fc.integer({ min: 1_000, max: 86_400_000 }),
  },
  { requiredKeys: ["host", "port"] },
);

/** An edit of a canonical text: one character replaced, dropped or doubled, or text inserted
 * or appended: a character (a control character, a lone surrogate), or an escape that parses
 * to plain text. "value" inserts at the start of a value or just inside a string value, where
 * a leading zero or an escape hides. */
const anEdit = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom("replace", "drop", "double", "insert", "append", "value"),
  by: fc.constantFrom(
    ...'{}[]":,0123456789 -.eaz\\\u00e9\u202e',
    "\n",
    "\u0001",
    "\ud800",
    "\\u0041",
    "\\/",
    "\\n",
    '\\"',
  ),
});

function edited(text: string, edit: { at: number; kind: string; by: string }): string {
  const at = edit.at % text.length;
  const tail = text.slice(at + 1);
  if (edit.kind === "append") return text + edit.by;
  if (edit.kind === "value") {
    const starts = [...text.matchAll(/:"?/g)].map((m) => m.index + m[0].length);
    const start = starts[edit.at % starts.length]!;
    return text.slice(0, start) + edit.by + text.slice(start);
  }
  if (edit.kind === "insert") return text.slice(0, at) + edit.by + text.slice(at);
  if (edit.kind === "drop") return text.slice(0, at) + tail;
  if (edit.kind === "double") return text.slice(0, at + 1) + text[at] + tail;
  return text.slice(0, at) + edit.by + tail;
}

test(`a peer's body gets the same verdict with and without the fast path (seed ${SEED})`, () => {
  let valid = 0;
  fc.assert(
    fc.property(bodyText, ({ text, ttlMs, ver }) => {
      const expected = schemaBodyDefect(text, { ttlMs, ver });
      assert.equal(bodyDefect(text, { ttlMs, ver }), expected);
      if (expected === undefined) valid++;
    }),
    settings(),
  );
  assert.ok(valid > RUNS / 20, `only ${valid} of ${RUNS} bodies were valid`);
});

test(`a canonical body of plain text is read as text, never parsed (seed ${SEED})`, () => {
  fc.assert(
    fc.property(plainBody, (value) => {
      const output = InstanceBodySchema.parse(value);
      const text = instanceBody(output);
      assert.ok(isCanonicalBody(text, output.ttlMs, output.version ?? ""), text);
      assert.equal(isCanonicalBody(text, output.ttlMs + 1, output.version ?? ""), false);
      assert.equal(isCanonicalBody(text, output.ttlMs, `${output.version ?? ""}x`), false);
    }),
    settings(),
  );
});

test(`edited canonical bodies of plain text get the same verdict either way (seed ${SEED})`, () => {
  let valid = 0;
  fc.assert(
    fc.property(
      plainBody,
      anEdit,
      fc.constantFrom("own", "own", "own", "ttl", "ver"),
      (value, edit, context) => {
        const output = InstanceBodySchema.parse(value);
        const text = edited(instanceBody(output), edit);
        const ttlMs = output.ttlMs + (context === "ttl" ? 1 : 0);
        const ver = (output.version ?? "") + (context === "ver" ? "x" : "");
        const expected = schemaBodyDefect(text, { ttlMs, ver });
        assert.equal(bodyDefect(text, { ttlMs, ver }), expected, text);
        if (expected === undefined) valid++;
      },
    ),
    { numRuns: RUNS, seed: SEED },
  );
  // Some edits keep a body valid (a digit for a digit): both verdicts must be reached.
  assert.ok(valid > 0 && valid < RUNS, `${valid} of ${RUNS} edited bodies were valid`);
});

test("bodies off by one at a bound: the same verdict, and a valid one takes the fast path", () => {
  const base = { host: "10.0.0.1", port: 80, weight: 100, ttlMs: 30_000 };
  const check = (body: Record<string, unknown>) => {
    const text = instanceBody(body as never);
    const context = { ttlMs: body.ttlMs as number, ver: (body.version as string) ?? "" };
    return [bodyDefect(text, context), schemaBodyDefect(text, context)];
  };
  for (const [field, inside, outside] of [
    ["port", 65535, 65536],
    ["port", 1, 0],
    ["weight", 1000, 1001],
    ["ttlMs", 86_400_000, 86_400_001],
    ["ttlMs", 1_000, 999],
    ["version", "v".repeat(128), "v".repeat(129)],
    ["healthCheckUrl", "u".repeat(2048), "u".repeat(2049)],
    ["host", `${"h".repeat(63)}.example`, `${"h".repeat(64)}.example`],
  ] as const) {
    const [fast, schema] = check({ ...base, [field]: inside });
    assert.equal(fast, undefined, `${field} = inside`);
    assert.equal(schema, undefined, `${field} = inside`);
    const [fastOut, schemaOut] = check({ ...base, [field]: outside });
    assert.match(fastOut ?? "", new RegExp(`${field}: `));
    assert.equal(fastOut, schemaOut);
  }
  assert.notEqual(acceptedBody(JSON.parse(instanceBody(base as never))), undefined);
  assert.ok(isCanonicalBody(instanceBody(base as never), base.ttlMs, ""));
  // A ttl the body cannot hold is never matched, even one the reader returns on failure.
  assert.equal(isCanonicalBody('{"host":"a","port":1,"weight":1,"ttlMs":}', -1, ""), false);
});
