import assert from "node:assert/strict";
import { test } from "node:test";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";
import { instance, startNode, stopAll } from "./fleet.js";

const json = new TextEncoder();
const nats = sharedNatsServer();

test("self-preservation pauses expiry when most leases lapse at once, and resumes when renewals recover", async () => {
  const node = await startNode(nats.server.url, "sp", {
    selfPreservationThreshold: 0.5,
    selfPreservationWindowMs: 3_000,
    selfPreservationMinLeases: 10,
    sweepIntervalMs: 50,
  });
  const register = (id: string, ttlMs: number) =>
    nats.nc.request(
      "registry.register",
      json.encode(JSON.stringify(instance("edge", id, { ttlMs }))),
      {
        timeout: 5_000,
      },
    );
  try {
    // Twenty instances whose renewals all stop together: a network failure, not twenty crashes.
    for (let i = 0; i < 20; i++) await register(`e${i}`, 1_000);
    await waitFor(() => node.status().selfPreservation, {
      timeoutMs: 5_000,
      message: "self-preservation active",
    });
    assert.equal((await node.metrics.selfPreservation.get()).values[0]?.value, 1);
    // Leases stay visible: the lease clock is frozen before the burst.
    await new Promise((r) => setTimeout(r, 500));
    const lookup = await nats.nc.request(
      "registry.lookup",
      json.encode(JSON.stringify({ service: "edge" })),
    );
    assert.equal(
      (JSON.parse(new TextDecoder().decode(lookup.data)) as { instances: unknown[] }).instances
        .length,
      20,
    );
    // The network comes back: eighteen services renew (re-register), two are really gone.
    for (let i = 0; i < 18; i++) await register(`e${i}`, 60_000);
    await waitFor(() => !node.status().selfPreservation, {
      timeoutMs: 5_000,
      message: "expiry resumed",
    });
    await waitFor(() => node.store.lookup({ service: "edge" }, Date.now()).length === 18, {
      timeoutMs: 5_000,
      message: "the two dead instances expire",
    });
  } finally {
    await stopAll([node]);
  }
});

test("a trickle of lapses expires normally", async () => {
  const node = await startNode(nats.server.url, "sp2", {
    selfPreservationMinLeases: 10,
    selfPreservationWindowMs: 3_000,
    subjectPrefix: "trickle",
  });
  try {
    for (let i = 0; i < 30; i++) {
      await nats.nc.request(
        "trickle.register",
        json.encode(JSON.stringify(instance("api", `a${i}`, { ttlMs: i < 2 ? 1_000 : 60_000 }))),
      );
    }
    await waitFor(() => node.store.lookup({ service: "api" }, Date.now()).length === 28, {
      timeoutMs: 5_000,
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(node.status().selfPreservation, false);
  } finally {
    await stopAll([node]);
  }
});
