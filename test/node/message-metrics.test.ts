import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeMetrics } from "../../src/node/metrics.js";

/** Every labelled sample of the node's regsync_* metrics, as `name{labels} value` lines. */
async function samples(metrics: NodeMetrics): Promise<Set<string>> {
  const text = await metrics.registry.metrics();
  return new Set(
    text.split("\n").filter((line) => line.startsWith("regsync_") && line.includes("{")),
  );
}

test("per-message counters count under the labels they were called with, each on its own", async () => {
  const metrics = new NodeMetrics();
  metrics.requestServed("register", "ok", 0.002);
  metrics.requestServed("register", "ok", 0.004);
  metrics.requestServed("register", "invalid_request", 0.001);
  metrics.requestServed("lookup", "ok", 0.001);
  metrics.announced("in", true);
  metrics.announced("in", true);
  metrics.announced("out", false);
  metrics.applied("inline", {
    applied: [{}, {}, {}] as never,
    stale: 0,
    rejectedSkew: 0,
    rejectedExpired: 0,
  });
  metrics.applied("pull", {
    applied: [{}] as never,
    stale: 0,
    rejectedSkew: 0,
    rejectedExpired: 0,
  });
  metrics.bytes("in", "wire", 100);
  metrics.bytes("in", "wire", 20);
  metrics.bytes("out", "raw", 7);
  metrics.changePublished("registered");
  metrics.changePublished("registered");
  metrics.changePublished("expired");
  const seen = await samples(metrics);
  for (const line of [
    'regsync_requests_total{endpoint="register",code="ok"} 2',
    'regsync_requests_total{endpoint="register",code="invalid_request"} 1',
    'regsync_requests_total{endpoint="lookup",code="ok"} 1',
    'regsync_request_duration_seconds_count{endpoint="register"} 3',
    'regsync_request_duration_seconds_count{endpoint="lookup"} 1',
    'regsync_announcements_total{direction="in",inline="true"} 2',
    'regsync_announcements_total{direction="out",inline="false"} 1',
    'regsync_entries_applied_total{path="inline"} 3',
    'regsync_entries_applied_total{path="pull"} 1',
    'regsync_sync_bytes_total{direction="in",stage="wire"} 120',
    'regsync_sync_bytes_total{direction="out",stage="raw"} 7',
    'regsync_changes_published_total{type="registered"} 2',
    'regsync_changes_published_total{type="expired"} 1',
  ])
    assert.ok(seen.has(line), `${line} in:\n${[...seen].join("\n")}`);
});

test("two nodes in one process keep their own counts", async () => {
  const a = new NodeMetrics();
  const b = new NodeMetrics();
  a.changePublished("updated");
  assert.ok((await samples(a)).has('regsync_changes_published_total{type="updated"} 1'));
  assert.ok(![...(await samples(b))].some((line) => line.startsWith("regsync_changes_published")));
});

test("counts made between two reads are each reported once, and a count of 0 still shows", async () => {
  const metrics = new NodeMetrics();
  metrics.requestServed("register", "ok", 0.001);
  assert.ok(
    (await samples(metrics)).has('regsync_requests_total{endpoint="register",code="ok"} 1'),
  );
  metrics.requestServed("register", "ok", 0.001);
  metrics.requestServed("register", "ok", 0.001);
  const read = await metrics.requests.get();
  assert.deepEqual(
    read.values.map((v) => [v.labels, v.value]),
    [[{ endpoint: "register", code: "ok" }, 3]],
  );
  assert.ok(
    (await samples(metrics)).has('regsync_requests_total{endpoint="register",code="ok"} 3'),
  );
  metrics.applied("reconcile", { applied: [], stale: 0, rejectedSkew: 0, rejectedExpired: 0 });
  assert.ok((await samples(metrics)).has('regsync_entries_applied_total{path="reconcile"} 0'));
});
