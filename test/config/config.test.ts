import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  ConfigError,
  configFromEnv,
  loadNodeConfig,
  parseNodeConfig,
  toEnvName,
} from "../../src/config/load.js";

describe("node configuration", () => {
  test("defaults are complete and the result is frozen", () => {
    const config = parseNodeConfig({ id: "n1" });
    assert.equal(config.subjectPrefix, "registry");
    assert.equal(config.syncIntervalMs, 5_000);
    assert.deepEqual(config.nats, ["nats://127.0.0.1:4222"]);
    assert.equal(config.memory, false);
    assert.ok(Object.isFrozen(config));
  });

  test("unknown keys are rejected by name", () => {
    assert.throws(
      () => parseNodeConfig({ id: "n1", syncIntervalMS: 5 }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /unknown setting\(s\): syncIntervalMS/);
        return true;
      },
    );
  });

  test("bad values name the setting", () => {
    assert.throws(() => parseNodeConfig({ id: "bad id" }), /id: 1-64 characters/);
    assert.throws(() => parseNodeConfig({ syncIntervalMs: 5 }), /syncIntervalMs/);
    assert.throws(
      () => parseNodeConfig({ trustedPeers: ["nope"] }),
      /trustedPeers\.0: an nkey public key/,
    );
  });

  test("a clock drift bound beyond the skew bound is refused, and the clock defaults hold", () => {
    const config = parseNodeConfig({ id: "n1" });
    assert.equal(config.maxClockDriftMs, 1_000);
    assert.equal(config.selfPreservationMaxMs, 900_000);
    assert.throws(
      () => parseNodeConfig({ id: "n1", maxClockSkewMs: 500, maxClockDriftMs: 1_000 }),
      (e: unknown) => e instanceof ConfigError && /maxClockDriftMs/.test(e.message),
    );
  });

  test("environment variables map to settings, typed by their defaults", () => {
    assert.equal(toEnvName("syncIntervalMs"), "REGSYNC_SYNC_INTERVAL_MS");
    const env = configFromEnv({
      REGSYNC_SYNC_INTERVAL_MS: "250",
      REGSYNC_ID: "123",
      REGSYNC_NATS: "nats://a:1, nats://b:2",
      REGSYNC_MEMORY: "true",
      PATH: "/bin",
    });
    assert.deepEqual(env, {
      syncIntervalMs: 250,
      id: "123",
      nats: ["nats://a:1", "nats://b:2"],
      memory: true,
    });
    assert.throws(
      () => configFromEnv({ REGSYNC_SYNC_INTERVALMS: "1" }),
      /unknown environment setting\(s\): REGSYNC_SYNC_INTERVALMS/,
    );
  });

  test("flags win over the environment, which wins over the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "regsync-config-"));
    const file = join(dir, "node.json");
    writeFileSync(
      file,
      JSON.stringify({ id: "from-file", syncIntervalMs: 1_000, logLevel: "debug" }),
    );
    const config = loadNodeConfig({
      file,
      env: { REGSYNC_SYNC_INTERVAL_MS: "2000", REGSYNC_LOG_LEVEL: "warn" },
      overrides: { logLevel: "error" },
    });
    assert.equal(config.id, "from-file");
    assert.equal(config.syncIntervalMs, 2_000);
    assert.equal(config.logLevel, "error");
  });

  test("an unreadable or malformed file is a clear error", () => {
    const dir = mkdtempSync(join(tmpdir(), "regsync-config-"));
    assert.throws(
      () => loadNodeConfig({ file: join(dir, "missing.json") }),
      /cannot read config file/,
    );
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ not json");
    assert.throws(() => loadNodeConfig({ file: bad }), /is not valid JSON/);
    writeFileSync(bad, "[1,2]");
    assert.throws(() => loadNodeConfig({ file: bad }), /must hold a JSON object/);
  });

  test("the HTTP listen address and the NATS URLs are checked at load", () => {
    for (const [input, message] of [
      [{ httpListen: "nonsense" }, /httpListen: "nonsense" is not host:port/],
      [{ httpListen: ":99999" }, /httpListen: ":99999": port 99999 is above 65535/],
      [{ nats: ["nats://:4222"] }, /nats\.0: "nats:\/\/:4222" is not a NATS URL/],
      [{ nats: ["http://127.0.0.1:4222"] }, /nats\.0: .* has scheme http/],
    ] as const) {
      assert.throws(() => parseNodeConfig({ id: "n1", ...input }), message);
    }
    const ok = parseNodeConfig({
      id: "n1",
      httpListen: "[::1]:0",
      nats: ["tls://a.example:4443", "localhost", "10.0.0.1:4222"],
    });
    assert.equal(ok.httpListen, "[::1]:0");
    assert.equal(parseNodeConfig({ id: "n1", httpListen: "" }).httpListen, "");
  });
});
