import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RegistryClient } from "../../src/client/client.js";
import type { RegistryClientError } from "../../src/client/errors.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { converged, instance, startFleet, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";

/** Sequences per test: enough that, without tokens, requests regularly land on a node the
 * write has not reached yet. */
const SEQUENCES = 200;

describe("read-your-writes through the TypeScript client on a 3-node fleet", () => {
  let nodes: RegistryNode[] = [];
  // Registered before the shared server's hooks, so the nodes stop while their server still runs.
  after(() => stopAll(nodes));
  const nats = sharedNatsServer();
  before(async () => {
    nodes = await startFleet(nats.server.url, 3, { subjectPrefix: "ryw" });
  });

  test("an acknowledged deregister right after a register always takes effect", async () => {
    const client = new RegistryClient(nats.nc, { prefix: "ryw" });
    for (let i = 0; i < SEQUENCES; i++) {
      await client.register(instance("dereg", `d${i}`), { keepAlive: false });
      await client.deregister("dereg", `d${i}`);
    }
    await waitFor(() => converged(nodes), { timeoutMs: 10_000, message: "fleet converged" });
    for (const node of nodes) {
      const left = node.store.lookup({ service: "dereg" }, Date.now());
      assert.deepEqual(
        left.map((e) => e.id),
        [],
        `${node.id} still lists deregistered instances`,
      );
    }
  });

  test("a heartbeat and a lookup right after a register see it", async () => {
    const client = new RegistryClient(nats.nc, { prefix: "ryw" });
    const failures: string[] = [];
    for (let i = 0; i < SEQUENCES; i++) {
      await client.register(instance("own", `o${i}`), { keepAlive: false });
      try {
        await client.heartbeat("own", `o${i}`);
      } catch (error) {
        failures.push(`heartbeat o${i}: ${(error as RegistryClientError).code}`);
      }
      const found = await client.lookup("own");
      if (!found.some((x) => x.id === `o${i}`)) failures.push(`lookup missed o${i}`);
    }
    assert.deepEqual(failures, []);
  });

  test("a malformed token is refused as invalid_request and changes nothing", async () => {
    const client = new RegistryClient(nats.nc, { prefix: "ryw", causalToken: "not a token" });
    await assert.rejects(client.deregister("own", "o0"), (error: RegistryClientError) => {
      assert.equal(error.code, "invalid_request");
      return true;
    });
  });
});
