import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { NodeMetrics } from "../../src/node/metrics.js";

test("docs/metrics.md lists every metric a node exports, with its type, and no other", async () => {
  const doc = readFileSync("docs/metrics.md", "utf8");
  const documented = new Map(
    [...doc.matchAll(/^\| `([a-z0-9_]+)` \| (counter|gauge|histogram|summary) \|/gm)].map((m) => [
      m[1]!,
      m[2]!,
    ]),
  );
  const exported = new Map(
    (await new NodeMetrics().registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]),
  );
  for (const [name, type] of exported) {
    assert.equal(documented.get(name), type, `${name} (${type}) is missing from docs/metrics.md`);
  }
  for (const name of documented.keys()) {
    assert.ok(exported.has(name), `docs/metrics.md lists ${name}, which no node exports`);
  }
  // The runtime metrics a dashboard expects are among them.
  for (const name of ["process_cpu_seconds_total", "nodejs_eventloop_lag_seconds"]) {
    assert.ok(exported.has(name), name);
  }
});
