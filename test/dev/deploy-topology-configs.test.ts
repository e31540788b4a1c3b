import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

/** The shipped topology configs (docs/topologies.md) must be valid for the nats-server we test with. */
const DIRS = ["deploy/supercluster", "deploy/leaf"];

test("deploy/supercluster and deploy/leaf configs pass nats-server -t", () => {
  const binary = process.env.NATS_SERVER ?? "nats-server";
  const files = DIRS.flatMap((dir) =>
    readdirSync(dir)
      .filter((name) => name.endsWith(".conf"))
      .map((name) => join(dir, name)),
  );
  assert.ok(files.length >= 4, `found ${files.join(", ")}`);
  for (const file of files) {
    const result = spawnSync(binary, ["-t", "-c", file], { encoding: "utf8", timeout: 10_000 });
    assert.equal(result.status, 0, `${file}: ${result.stdout}${result.stderr}`);
  }
});
