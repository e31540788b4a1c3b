import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { startNodeProcess } from "../../bench/writes/node-process.js";
import { NODE_RUNTIME_FLAGS } from "../../src/cli/runtime-flags.js";
import { withNatsServer } from "../support/nats.js";

test("the benchmarks start nodes as the regsync executable does, with the node's runtime flags", async (t) => {
  const server = await withNatsServer(t);
  const node = await startNodeProcess({ id: "flags1", natsUrl: server.url });
  t.after(() => node.stop());
  const argv = readFileSync(`/proc/${node.pid}/cmdline`, "utf8").split("\0");
  const script = argv.findIndex((a) => a.endsWith("main.js"));
  assert.ok(script > 0, argv.join(" "));
  for (const flag of NODE_RUNTIME_FLAGS)
    assert.ok(argv.slice(0, script).includes(flag), `${flag} before the script: ${argv.join(" ")}`);
});
