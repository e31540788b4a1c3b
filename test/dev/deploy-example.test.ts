import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createServer } from "nkeys.js";
import { parseNodeConfig } from "../../src/config/load.js";

test("deploy/node.example.json: trusted peers, a seed file, its own inboxes, HTTP on loopback", () => {
  const text = readFileSync(new URL("../../../deploy/node.example.json", import.meta.url), "utf8");
  const filled = text.replace(/NREPLACE_WITH_NODE_\d_SIGNING_PUBLIC_KEY_*/g, () =>
    createServer().getPublicKey(),
  );
  const config = parseNodeConfig(JSON.parse(filled));
  // Each node id with its key, this node's own among them.
  assert.equal(Object.keys(config.trustedPeers).length, 3);
  assert.ok(config.id in config.trustedPeers);
  assert.ok(config.nodeSeedFile);
  assert.equal(config.inboxPrefix, `_INBOX.${config.id}`);
  assert.match(config.httpListen, /^127\.0\.0\.1:/);
  assert.ok(config.natsAuth.nkeySeedFile);
  assert.ok(config.tls?.cert && config.tls.key && config.tls.ca);
});
