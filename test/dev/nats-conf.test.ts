import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { connect } from "nats";
import { freePort, startNatsServer } from "../../src/dev/nats-server.js";
import { instance, startNode, stopAll } from "../node/fleet.js";

const json = new TextEncoder();

/** nats.conf at the repository root, moved to free ports so it never meets a real server. */
async function devConfig(): Promise<string> {
  const text = readFileSync(new URL("../../../nats.conf", import.meta.url), "utf8");
  return text
    .replace(/^listen: .*$/m, "")
    .replace(/^http: .*$/m, `http: "127.0.0.1:${await freePort()}"`);
}

test("nats.conf: services use the client API only; only registry nodes use sync subjects", async () => {
  const server = await startNatsServer({ config: await devConfig() });
  const node = await startNode(server.url, "secured", {
    natsAuth: { user: "registry-node", pass: "dev-node-password" },
  });
  const svc = await connect({ servers: server.url, user: "service", pass: "dev-service-password" });
  try {
    const reply = await svc.request(
      "registry.register",
      json.encode(JSON.stringify(instance("api", "a1"))),
      { timeout: 5_000 },
    );
    assert.equal(JSON.parse(new TextDecoder().decode(reply.data)).ok, true);
    const errors: string[] = [];
    void (async () => {
      for await (const status of svc.status())
        if (status.type === "error") errors.push(String(status.data));
    })();
    svc.publish("registry.sync.announce", json.encode("forged"));
    svc.subscribe("registry.sync.>");
    await svc.flush();
    await new Promise((r) => setTimeout(r, 300));
    // The server refuses both: a violation for the publish and one for the subscription.
    assert.deepEqual(errors, ["PERMISSIONS_VIOLATION", "PERMISSIONS_VIOLATION"]);
    assert.equal(node.store.size, 1, "the forged announcement changed nothing");
    await assert.rejects(
      connect({ servers: server.url, user: "service", pass: "wrong" }),
      /Authorization Violation/,
    );
  } finally {
    await svc.close();
    await stopAll([node]);
    await server.stop();
  }
});
