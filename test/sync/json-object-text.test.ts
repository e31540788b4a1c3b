import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { instanceBody } from "../../src/core/mod.js";
import {
  isJsonObjectText,
  SHALLOW_OBJECT,
  scanObjectText,
} from "../../src/wire/json-object-text.js";

/** The reference: JSON.parse accepts it and it is a plain object. */
function reference(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value);
  } catch {
    return false;
  }
}

describe("isJsonObjectText", () => {
  test("agrees with JSON.parse on serialised objects and their mutations", () => {
    const objects = fc
      .dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 }))
      .map((o) => JSON.stringify(o));
    const mutated = fc
      .tuple(
        objects,
        fc.nat(),
        fc.integer({ min: 0, max: 0x7f }),
        fc.constantFrom("replace", "insert", "delete"),
      )
      .map(([text, at, code, how]) => {
        const i = text.length === 0 ? 0 : at % text.length;
        const ch = String.fromCharCode(code);
        if (how === "replace") return text.slice(0, i) + ch + text.slice(i + 1);
        if (how === "insert") return text.slice(0, i) + ch + text.slice(i);
        return text.slice(0, i) + text.slice(i + 1);
      });
    fc.assert(
      fc.property(fc.oneof(objects, mutated, fc.string(), fc.json()), (text) => {
        assert.equal(isJsonObjectText(text), reference(text), text);
      }),
      { numRuns: 5_000 },
    );
  });

  test("the fast path accepts only valid objects, and every registration body", () => {
    const shallow = fc
      .dictionary(
        fc.string(),
        fc.oneof(
          fc.jsonValue({ maxDepth: 0 }),
          fc.array(fc.jsonValue({ maxDepth: 0 })),
          fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 0 })),
        ),
      )
      .map((o) => JSON.stringify(o));
    fc.assert(
      fc.property(fc.oneof(shallow, fc.json(), fc.string()), (text) => {
        if (SHALLOW_OBJECT.test(text)) assert.equal(reference(text), true, text);
        assert.equal(scanObjectText(text), reference(text), text);
      }),
      { numRuns: 5_000 },
    );
    const body = instanceBody({
      host: "10.0.0.1",
      port: 8080,
      version: "1.2.3",
      tags: { zone: "a", 'quote"d': "é\n" },
      capabilities: ["grpc"],
      endpoints: { http: "http://10.0.0.1:8080" },
      weight: 100,
      ttlMs: 30_000,
    });
    assert.equal(SHALLOW_OBJECT.test(body), true, body);
  });

  test("edge cases", () => {
    for (const ok of [
      "{}",
      ' { "a" : [1, -2.5e+3, true, false, null, "\\u00e9\\n"] } ',
      '{"a":{"b":{}}}',
      '{"":0}',
    ]) {
      assert.equal(isJsonObjectText(ok), true, ok);
    }
    for (const bad of [
      "",
      "[]",
      '"x"',
      "1",
      "{",
      '{"a"}',
      '{"a":01}',
      '{"a":1,}',
      '{"a":"\u0001"}',
      '{"a":"\\x"}',
      "{} {}",
      '{"a":1}}',
      '{"a":-}',
      '{"a":1.}',
      '{"a":tru}',
    ]) {
      assert.equal(isJsonObjectText(bad), false, bad);
    }
    assert.equal(
      isJsonObjectText(`${'{"a":'.repeat(100)}1${"}".repeat(100)}`),
      false,
      "nesting is bounded",
    );
  });
});
