import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { parseNodeConfig } from "../../src/config/load.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { withNatsServer } from "../support/nats.js";
import { freePort } from "../support/ports.js";
import { waitFor } from "../support/wait.js";
import { FAST_SYNC } from "./fleet.js";

/** A node whose warnings are kept for the test to read. */
function nodeWithLog(natsPort: number, httpPort: number) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "warn" },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const config = parseNodeConfig({
    ...FAST_SYNC,
    id: "lonely",
    nats: [`nats://127.0.0.1:${natsPort}`],
    httpListen: `127.0.0.1:${httpPort}`,
  });
  return { node: new RegistryNode({ config, codec: createSyncCodec(config), logger }), lines };
}

async function probe(url: string): Promise<number> {
  return (await fetch(url)).status;
}

test("a node that cannot reach NATS says why at warn and serves probes that fail", async (t) => {
  const natsPort = await freePort();
  const httpPort = await freePort();
  const { node, lines } = nodeWithLog(natsPort, httpPort);
  const started = node.start();
  t.after(() => node.stop());
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(() => lines.length >= 2, { message: "two failed attempts logged" });
  for (const line of lines.slice(0, 2)) {
    assert.equal(line.level, 40);
    assert.match(String(line.cause), /connection refused/);
    assert.deepEqual(line.servers, [`nats://127.0.0.1:${natsPort}`]);
  }
  assert.equal(await probe(`${base}/healthz`), 503);
  assert.equal(await probe(`${base}/readyz`), 503);
  const status = (await (await fetch(`${base}/status.json`)).json()) as {
    nats: { connected: boolean; lastError: string };
  };
  assert.equal(status.nats.connected, false);
  assert.match(status.nats.lastError, /connection refused/);
  assert.match(await (await fetch(`${base}/metrics`)).text(), /^regsync_nats_connected 0$/m);

  // NATS comes up on that port: the node connects, and the probes and gauge follow.
  const server = await withNatsServer(t, { port: natsPort });
  await started;
  await waitFor(async () => (await probe(`${base}/readyz`)) === 200, { timeoutMs: 15_000 });
  assert.equal(await probe(`${base}/healthz`), 200);
  assert.match(await (await fetch(`${base}/metrics`)).text(), /^regsync_nats_connected 1$/m);

  // NATS goes away: health and readiness fail while the node reconnects, and it says so.
  await server.stop();
  await waitFor(async () => (await probe(`${base}/healthz`)) === 503, { timeoutMs: 15_000 });
  assert.equal(await probe(`${base}/readyz`), 503);
  const down = (await (await fetch(`${base}/status.json`)).json()) as {
    nats: { connected: boolean };
  };
  assert.equal(down.nats.connected, false);
  assert.ok(lines.some((l) => l.msg === "NATS connection lost; reconnecting"));
});
