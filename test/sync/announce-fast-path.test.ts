/**
 * The one-pass announcement check against the zod schema it stands in for: whatever it accepts
 * the schema accepts with a deep-equal output, and every well-formed announcement takes it.
 * REGSYNC_TEST_ANNOUNCE_RUNS scales the runs (default 20,000 per property); a failure prints its
 * seed, and REGSYNC_TEST_ANNOUNCE_SEED replays it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { acceptedAnnounce } from "../../src/sync/announce-fast-path.js";
import { AnnounceSchema, PROTOCOL_VERSION, parseMessage } from "../../src/sync/messages.js";

const RUNS = Number(process.env.REGSYNC_TEST_ANNOUNCE_RUNS ?? 20_000);
const SEED = Number(process.env.REGSYNC_TEST_ANNOUNCE_SEED ?? Date.now() % 1_000_000);

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: length, maxLength: length });
const counter = fc.oneof(fc.nat(), fc.constant(0), fc.constant(Number.MAX_SAFE_INTEGER));

/** Each field's well-formed values. */
const VALID = {
  type: fc.constant("announce"),
  v: fc.constantFrom(1, 2, PROTOCOL_VERSION, PROTOCOL_VERSION + 1),
  node: fc.constantFrom("n1", "node-2", "a_b-C9", "x".repeat(64)),
  epoch: fc.string({ minLength: 1, maxLength: 64 }),
  seq: counter,
  digest: hex(32),
  count: counter,
  from: counter,
  entries: fc.array(fc.anything(), { maxLength: 3 }),
  accepts: fc.array(fc.string({ maxLength: 16 }), { maxLength: 8 }),
  leaving: fc.boolean(),
  periodic: fc.boolean(),
  region: fc.constantFrom("eu-west-1", "us", "a:b.c_d-e"),
  at: counter,
  nonce: hex(16),
};
type Field = keyof typeof VALID;
const REQUIRED: readonly Field[] = ["type", "v", "node", "epoch", "seq", "digest", "count", "at"];

/** Values that are wrong for some field or other, or right for another. */
const ODD = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    "",
    "announce ",
    "ANNOUNCE",
    -1,
    -0,
    0.5,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2 ** 53,
    "1",
    true,
    [],
    {},
    "g".repeat(32),
    "A".repeat(32),
    "0".repeat(31),
    "x".repeat(65),
    "bad region!",
    ["deflate"],
    Array(9).fill("x"),
    ["x".repeat(17)],
    [1],
  ),
  fc.anything(),
);

/** An announcement where every field may be missing, well formed or odd (an explicit
 * undefined now and then), with a stranger key now and then. */
const anyAnnounce = fc
  .record(
    Object.fromEntries(
      (Object.keys(VALID) as Field[]).map((f) => [
        f,
        fc.option(fc.oneof({ weight: 4, arbitrary: VALID[f] }, { weight: 1, arbitrary: ODD }), {
          nil: undefined,
          freq: REQUIRED.includes(f) ? 20 : 2,
        }),
      ]),
    ) as Record<Field, fc.Arbitrary<unknown>>,
  )
  .chain((fields) =>
    fc
      .tuple(
        fc.array(
          fc.nat({ max: 19 }).map((n) => n === 0),
          { minLength: 15, maxLength: 15 },
        ),
        fc.option(fc.constantFrom("extra", "__proto__", "Type", "toString", "constructor"), {
          freq: 8,
        }),
      )
      .map(([keepUndefined, stranger]) => {
        const message: Record<string, unknown> = {};
        Object.entries(fields).forEach(([key, value], i) => {
          if (value !== undefined || keepUndefined[i]) message[key] = value;
        });
        if (stranger !== null)
          Object.defineProperty(message, stranger, {
            value: 1,
            enumerable: true,
            configurable: true,
            writable: true,
          });
        return message;
      }),
  );

/** A well-formed announcement: required fields, some optional ones. */
const wellFormed = fc.record(
  Object.fromEntries((Object.keys(VALID) as Field[]).map((f) => [f, VALID[f]])) as Record<
    Field,
    fc.Arbitrary<unknown>
  >,
  { requiredKeys: [...REQUIRED] },
);

test("whatever the one-pass check accepts, the schema accepts with a deep-equal output", () => {
  fc.assert(
    fc.property(anyAnnounce, (message) => {
      const fast = acceptedAnnounce(message);
      if (fast === undefined) return;
      const parsed = AnnounceSchema.safeParse(message);
      assert.ok(
        parsed.success,
        `the schema refuses what the check took: ${JSON.stringify(message)}`,
      );
      assert.deepStrictEqual(fast, parsed.data);
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test("every well-formed announcement takes the one-pass check, and parses alike either way", () => {
  fc.assert(
    fc.property(wellFormed, (message) => {
      const fast = acceptedAnnounce(message);
      assert.notEqual(fast, undefined, JSON.stringify(message));
      assert.deepStrictEqual(fast, AnnounceSchema.parse(message));
      // parseMessage's version checks hold whichever way the message was parsed.
      const either = () => parseMessage(AnnounceSchema, message, acceptedAnnounce);
      const schemaOnly = () => parseMessage(AnnounceSchema, message);
      let expected: unknown;
      try {
        expected = schemaOnly();
      } catch (error) {
        assert.throws(either, { message: (error as Error).message });
        return;
      }
      assert.deepStrictEqual(either(), expected);
    }),
    { numRuns: RUNS, seed: SEED },
  );
});
