import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { loadNodeConfig } from "../../src/config/load.js";
import { withNatsServer } from "../support/nats.js";
import { freePort } from "../support/ports.js";
import { waitFor } from "../support/wait.js";

const exec = promisify(execFile);
const AUTH = "authorization { user: registry-node, password: node-pw }";

/** `regsync node` as a child process, killed after the test. */
function spawnNode(
  t: { after(fn: () => unknown): void },
  args: string[],
  env: Record<string, string> = {},
): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ["dist/src/cli/main.js", "node", "--memory", ...args], {
    env: { ...process.env, REGSYNC_LOG_FORMAT: "json", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return Object.assign(child, { output: () => output });
}

async function ready(httpPort: number): Promise<boolean> {
  return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200;
}

test("regsync node takes --user and --password, as nats.conf documents", async (t) => {
  const server = await withNatsServer(t, { config: AUTH });
  const httpPort = await freePort();
  const node = spawnNode(t, [
    "--nats",
    server.url,
    "--id",
    "flags",
    "--http-listen",
    `127.0.0.1:${httpPort}`,
    "--user",
    "registry-node",
    "--password",
    "node-pw",
  ]);
  await waitFor(() => ready(httpPort), { timeoutMs: 20_000, message: node.output() });
});

test("regsync node takes REGSYNC_USER and REGSYNC_PASSWORD; bad ones are logged as auth", async (t) => {
  const server = await withNatsServer(t, { config: AUTH });
  const httpPort = await freePort();
  const args = ["--nats", server.url, "--id", "envs", "--http-listen", `127.0.0.1:${httpPort}`];
  const wrong = spawnNode(t, args, { REGSYNC_USER: "registry-node", REGSYNC_PASSWORD: "nope" });
  await waitFor(() => /authorization violation/i.test(wrong.output()), { timeoutMs: 20_000 });
  // Refused credentials end the start by themselves (exit 1): wait only if it still runs.
  if (wrong.exitCode === null && wrong.signalCode === null) {
    const exited = new Promise((resolve) => wrong.once("exit", resolve));
    wrong.kill("SIGKILL");
    await exited;
  }
  const right = spawnNode(t, args, { REGSYNC_USER: "registry-node", REGSYNC_PASSWORD: "node-pw" });
  await waitFor(() => ready(httpPort), { timeoutMs: 20_000, message: right.output() });
});

test("credentials from every source merge: file, REGSYNC_TLS as JSON, shortcut variables, flags", () => {
  const config = loadNodeConfig({
    env: {
      REGSYNC_TLS: '{"ca":"/etc/regsync/ca.pem","cert":"/env/cert.pem"}',
      REGSYNC_TLS_KEY: "/env/key.pem",
      REGSYNC_USER: "from-env",
      REGSYNC_NATS_AUTH: '{"pass":"env-pass"}',
    },
    overrides: { tls: { cert: "/flag/cert.pem" }, natsAuth: { user: "from-flag" } },
  });
  assert.deepEqual(config.tls, {
    ca: "/etc/regsync/ca.pem",
    cert: "/flag/cert.pem",
    key: "/env/key.pem",
  });
  assert.deepEqual(config.natsAuth, { user: "from-flag", pass: "env-pass" });
});

test("status --until-ready waits for a fleet's first node", async (t) => {
  const server = await withNatsServer(t);
  const waiting = exec(
    process.execPath,
    ["dist/src/cli/main.js", "status", "--until-ready", "--timeout", "30000", "--nats", server.url],
    { timeout: 40_000 },
  );
  // Give the command time to find nobody; it must keep asking rather than fail.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const httpPort = await freePort();
  spawnNode(t, ["--nats", server.url, "--id", "first", "--http-listen", `127.0.0.1:${httpPort}`]);
  const { stdout } = await waiting;
  assert.match(stdout, /node first .*ready/);
});
