import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:net";
import { test } from "node:test";
import { promisify } from "node:util";
import { RegistryClient } from "../../src/client/client.js";
import { RegistryClientError } from "../../src/client/errors.js";
import { withNatsServer } from "../support/nats.js";
import { freePort } from "../support/ports.js";

const exec = promisify(execFile);

/** Runs the CLI with a clean NATS environment; the test's own 20 s bound is the hang check. */
async function regsync(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("NATS_")),
  );
  try {
    const { stdout, stderr } = await exec(process.execPath, ["dist/src/cli/main.js", ...args], {
      timeout: 20_000,
      env: { ...clean, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A TCP listener that accepts and never speaks: a server that hangs, on loopback. */
async function silentServer(t: { after(fn: () => unknown): void }): Promise<number> {
  const sockets = new Set<import("node:net").Socket>();
  const server: Server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as import("node:net").AddressInfo).port;
}

test("client commands give up on a refused server with one line naming it and the cause", async () => {
  const port = await freePort();
  for (const command of [["lookup", "demo"], ["status"], ["services"]]) {
    const run = await regsync([...command, "--nats", `nats://127.0.0.1:${port}`]);
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, new RegExp(`127\\.0\\.0\\.1:${port}: connection refused`));
  }
});

test("a bad URL is named, and NATS_URL is read when --nats is absent", async () => {
  const bad = await regsync(["lookup", "demo", "--nats", "nats://:99999"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /"nats:\/\/:99999" is not a NATS URL/);
  const fromEnv = await regsync(["services"], { NATS_URL: "ftp://127.0.0.1:1" });
  assert.equal(fromEnv.code, 1);
  assert.match(fromEnv.stderr, /ftp:\/\/127\.0\.0\.1:1" has scheme ftp/);
});

test("a server that never answers is given up on after --connect-timeout", async (t) => {
  const port = await silentServer(t);
  const run = await regsync([
    "lookup",
    "demo",
    "--nats",
    `nats://127.0.0.1:${port}`,
    "--connect-timeout",
    "500",
  ]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /no answer within 500 ms/);
});

test("bad credentials are reported as such; NATS_USER and NATS_PASSWORD are read", async (t) => {
  const server = await withNatsServer(t, {
    config: "authorization { user: ops, password: s3cret }",
  });
  const refused = await regsync(["services", "--nats", server.url, "--user", "ops"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /authorization violation/);
  // No node serves here, but the connection itself is accepted: the error is about the registry.
  const accepted = await regsync(["services", "--nats", server.url, "--connect-timeout", "2000"], {
    NATS_USER: "ops",
    NATS_PASSWORD: "s3cret",
  });
  assert.equal(accepted.code, 1);
  assert.match(accepted.stderr, /unavailable: no registry node is serving/);
});

test("errors under --json are one JSON error reply on stdout", async () => {
  const port = await freePort();
  const run = await regsync(["lookup", "demo", "--json", "--nats", `nats://127.0.0.1:${port}`]);
  assert.equal(run.code, 1);
  const reply = JSON.parse(run.stdout) as { ok: boolean; error: { code: string; message: string } };
  assert.equal(reply.ok, false);
  assert.equal(reply.error.code, "unavailable");
  assert.match(reply.error.message, /connection refused/);
});

test("RegistryClient.connect fails within its timeout, naming the server and the cause", async (t) => {
  const refusedPort = await freePort();
  await assert.rejects(
    RegistryClient.connect({ servers: [`nats://127.0.0.1:${refusedPort}`], timeoutMs: 1_000 }),
    (error: unknown) => {
      assert.ok(error instanceof RegistryClientError);
      assert.equal(error.code, "unavailable");
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${refusedPort}: connection refused`));
      return true;
    },
  );
  const silentPort = await silentServer(t);
  await assert.rejects(
    RegistryClient.connect({ servers: [`nats://127.0.0.1:${silentPort}`], connectTimeoutMs: 300 }),
    /no answer within 300 ms/,
  );
});

test("a server's validation issues are printed once each", async (t) => {
  const { startNode, stopAll } = await import("../node/fleet.js");
  const { startNatsServer } = await import("../../src/dev/nats-server.js");
  // The node stops before its server, so its stop never waits for a server that is gone.
  const server = await startNatsServer();
  const node = await startNode(server.url, "issues-1");
  t.after(async () => {
    await stopAll([node]);
    await server.stop();
  });
  // A heartbeat with a bad id passes the CLI's flag checks and is refused by the node.
  const run = await regsync([
    "heartbeat",
    "--service",
    "pay",
    "--id",
    "bad id!",
    "--nats",
    server.url,
  ]);
  assert.equal(run.code, 1, run.stderr);
  const lines = run.stderr.trim().split("\n");
  assert.match(lines[0]!, /invalid_request/);
  const idLines = lines.filter((l) => l.includes("1-128 characters"));
  assert.equal(idLines.length, 1, run.stderr);
});

test("regsync node refuses a data directory it cannot create, at once", async () => {
  const run = await regsync([
    "node",
    "--data-dir",
    "/proc/regsync-nope",
    "--nats",
    "nats://127.0.0.1:1",
    "--http-listen",
    "127.0.0.1:0",
  ]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /cannot create data directory \/proc\/regsync-nope/);
});

test("regsync node refuses a bad --http-listen with the value and exit 1", async () => {
  for (const listen of ["nonsense", ":99999"]) {
    const run = await regsync(["node", "--memory", "--http-listen", listen]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /httpListen: .*(not host:port|above 65535)/);
  }
});
