import assert from "node:assert/strict";
import { test } from "node:test";
import { bodyDefect, describeIssues, InstanceSchema, instanceBody } from "../../src/core/mod.js";

const base = { service: "api", id: "a1", host: "10.0.0.1", port: 80 };

function issues(extra: object): string[] {
  const result = InstanceSchema.safeParse({ ...base, ...extra });
  return result.success ? [] : describeIssues(result.error).map((i) => `${i.path}: ${i.message}`);
}

test("tags and endpoints: bounds on keys, values and size, each issue naming the key", () => {
  assert.deepEqual(
    issues({ tags: { zone: "z", empty: "" }, endpoints: { grpc: "grpc://h:1" } }),
    [],
  );
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
  assert.deepEqual(issues({ tags: many }), ["tags: at most 64 keys"]);
  assert.deepEqual(issues({ tags: { ["k".repeat(129)]: "v" } }), [
    `tags.${"k".repeat(129)}: keys are 1-128 characters`,
  ]);
  assert.deepEqual(issues({ tags: { "": "v" } }), ["tags.: keys are 1-128 characters"]);
  assert.deepEqual(issues({ tags: { zone: "z".repeat(257) } }), [
    "tags.zone: a string of 0-256 characters",
  ]);
  assert.deepEqual(issues({ tags: { zone: 1 } }), ["tags.zone: a string of 0-256 characters"]);
  assert.deepEqual(issues({ endpoints: { grpc: "" } }), [
    "endpoints.grpc: a string of 1-2048 characters",
  ]);
  assert.deepEqual(issues({ endpoints: ["grpc://h:1"] }), [
    "endpoints: expected an object of strings",
  ]);
  assert.deepEqual(issues({ tags: null }), ["tags: expected an object of strings"]);
});

test("a peer's body is held to the same map bounds", () => {
  const valid = InstanceSchema.parse({ ...base, tags: { zone: "z" } });
  const body = instanceBody(valid);
  assert.equal(bodyDefect(body, { ttlMs: valid.ttlMs, ver: "" }), undefined);
  const long = body.replace('"zone":"z"', `"zone":"${"z".repeat(257)}"`);
  assert.match(bodyDefect(long, { ttlMs: valid.ttlMs, ver: "" }) ?? "", /tags\.zone/);
});
