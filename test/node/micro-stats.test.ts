import assert from "node:assert/strict";
import { test } from "node:test";
import { VERSION } from "../../src/version.js";
import { sharedNatsServer } from "../support/nats.js";
import { startNode, stopAll } from "./fleet.js";

const shared = sharedNatsServer();

interface EndpointStats {
  name: string;
  num_requests: number;
  num_errors: number;
  last_error?: string;
  processing_time: number;
  average_processing_time: number;
}

test("nats micro stats count error replies and the time from receipt to reply", async (t) => {
  const node = await startNode(shared.server.url, "stats-1");
  t.after(() => stopAll([node]));
  const { nc } = shared;
  const encode = (body: unknown) => new TextEncoder().encode(JSON.stringify(body));
  for (let i = 0; i < 5; i++) await nc.request("registry.register", encode({ service: "bad!" }));
  for (let i = 0; i < 100; i++) {
    await nc.request(
      "registry.register",
      encode({ service: "api", id: `a${i}`, host: "10.0.0.1", port: 80 }),
    );
  }
  for (let i = 0; i < 20; i++) await nc.request("registry.lookup", encode({ service: "api" }));

  const reply = await nc.request("$SRV.STATS.registry");
  const stats = JSON.parse(new TextDecoder().decode(reply.data)) as {
    metadata: Record<string, string>;
    endpoints: EndpointStats[];
  };
  const register = stats.endpoints.find((e) => e.name === "register")!;
  assert.equal(register.num_requests, 105);
  assert.equal(register.num_errors, 5);
  assert.match(register.last_error ?? "", /^invalid_request: /);
  // Every request took some time; nats.js alone counted whole milliseconds of a handler
  // that returns at once, which summed to 0.
  const lookup = stats.endpoints.find((e) => e.name === "lookup")!;
  assert.equal(lookup.num_requests, 20);
  assert.equal(lookup.num_errors, 0);
  assert.ok(lookup.processing_time > 0, `processing_time ${lookup.processing_time}`);
  assert.ok(lookup.average_processing_time > 0);
  assert.ok(register.processing_time > 0);
  assert.equal(
    lookup.average_processing_time,
    Math.round(lookup.processing_time / lookup.num_requests),
  );

  // Metadata names what users have: the node, the docs shipped in the package, a version.
  assert.equal(stats.metadata.node, "stats-1");
  assert.equal(stats.metadata.version, VERSION);
  assert.match(stats.metadata.docs ?? "", /docs\/client\.md/);
  const info = JSON.parse(
    new TextDecoder().decode((await nc.request("$SRV.INFO.registry")).data),
  ) as { endpoints: { name: string; metadata: Record<string, string> }[] };
  for (const endpoint of info.endpoints) {
    assert.doesNotMatch(JSON.stringify(endpoint.metadata), /DESIGN\.md/);
    assert.match(endpoint.metadata.docs ?? "", /docs\/client\.md/);
  }

  // The same requests, per endpoint, in the latency histogram.
  const metrics = await node.metrics.registry.getSingleMetricAsString(
    "regsync_request_duration_seconds",
  );
  assert.match(metrics, /regsync_request_duration_seconds_count\{endpoint="register"\} 105/);
  assert.match(metrics, /regsync_request_duration_seconds_count\{endpoint="lookup"\} 20/);
});
