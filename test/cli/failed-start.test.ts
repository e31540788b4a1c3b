import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { connect } from "nats";
import { withNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";

const MAIN = resolve("dist/src/cli/main.js");
/** `regsync node`'s default HTTP address (config schema `httpListen`). */
const DEFAULT_HTTP_PORT = 7420;
/** Generous for a loaded machine; a failed start exits well within a second on an idle one. */
const EXIT_BOUND_MS = 20_000;

interface NodeProcess {
  child: ChildProcess;
  stderr: string;
  exit: Promise<number | null>;
}

/** `regsync node` in `cwd` (where its default data directory goes), killed after the test. */
function regsyncNode(
  t: { after: (fn: () => unknown) => void },
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): NodeProcess {
  const child = spawn(process.execPath, [MAIN, "node", ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const handle: NodeProcess = {
    child,
    stderr: "",
    exit: new Promise((done) => child.on("exit", (code) => done(code))),
  };
  child.stderr!.on("data", (chunk: Buffer) => {
    handle.stderr += chunk.toString();
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await handle.exit;
    }
  });
  return handle;
}

/** The exit code; a node still running after the bound fails the test instead of hanging it. */
async function exited(node: NodeProcess): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`node still running: ${node.stderr}`)),
      EXIT_BOUND_MS,
    );
  });
  try {
    return await Promise.race([node.exit, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `port` on 127.0.0.1 is free right now. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const probe = createServer();
    probe.once("error", () => done(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => done(true)));
  });
}

function scratchDir(t: { after: (fn: () => unknown) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "regsync-start-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("three nodes on one host with defaults: the two that cannot bind HTTP exit and say how to fix it", async (t) => {
  const server = await withNatsServer(t);
  const cwd = scratchDir(t);
  const portWasFree = await portIsFree(DEFAULT_HTTP_PORT);
  // Each its own data directory: with the default one the second and third would be refused
  // by the directory's lock first (test/storage/data-dir.test.ts), before trying HTTP.
  const nodes = [0, 1, 2].map((i) =>
    regsyncNode(t, cwd, ["--nats", server.url, "--data-dir", join(cwd, `data-${i}`)]),
  );
  // The failed ones exit on their own; at most one node can hold the address.
  await waitFor(() => nodes.filter((n) => n.child.exitCode !== null).length >= 2, {
    timeoutMs: 20_000,
    message: "two nodes exit",
  });
  const failed = nodes.filter((n) => n.child.exitCode !== null);
  for (const node of failed) {
    assert.equal(node.child.exitCode, 1, node.stderr);
    const last = node.stderr.trim().split("\n").at(-1)!;
    assert.match(last, /^regsync node: HTTP: 127\.0\.0\.1:7420 is in use/);
    assert.match(last, /another regsync node/);
    assert.match(last, /--http-listen/);
    assert.match(last, /127\.0\.0\.1:0/);
    assert.match(last, /"" to disable/);
  }
  // No zombie in the queue group: only a node that started answers the micro service ping.
  const nc = await connect({ servers: server.url });
  t.after(() => nc.close());
  const running = nodes.filter((n) => n.child.exitCode === null).length;
  if (portWasFree) assert.equal(running, 1, "the first node keeps running");
  await waitFor(async () => (await pingRegistry(nc)) === running, {
    timeoutMs: 10_000,
    message: `${running} node(s) answer $SRV.PING.registry`,
  });
});

async function pingRegistry(nc: import("nats").NatsConnection): Promise<number> {
  let count = 0;
  try {
    const replies = await nc.requestMany("$SRV.PING.registry", undefined, { maxWait: 500 });
    for await (const _ of replies) count++;
  } catch {
    // no responders: zero nodes
  }
  return count;
}

test("refused NATS credentials, TLS to a plain server and a foreign data directory fail the start with the setting to change", async (t) => {
  const server = await withNatsServer(t, {
    config: 'authorization { user: "node", password: "right" }',
  });
  const cwd = scratchDir(t);
  const common = ["--http-listen", "", "--memory"];

  const auth = regsyncNode(t, cwd, ["--nats", server.url, ...common], {
    REGSYNC_NATS_AUTH: JSON.stringify({ user: "node", pass: "wrong" }),
  });
  assert.equal(await exited(auth), 1, auth.stderr);
  assert.match(auth.stderr, /regsync node: NATS refused the node's credentials.*natsAuth/);

  // The node requires TLS (a `tls` block); the server does not offer it.
  const tlsConfig = join(cwd, "tls.json");
  writeFileSync(tlsConfig, JSON.stringify({ natsAuth: { user: "node", pass: "right" }, tls: {} }));
  const tls = regsyncNode(t, cwd, ["--nats", server.url, "--config", tlsConfig, ...common]);
  assert.equal(await exited(tls), 1, tls.stderr);
  assert.match(tls.stderr, /regsync node: TLS to NATS failed.*tls\.ca/);

  const foreign = join(cwd, "photos.d");
  mkdirSync(foreign);
  writeFileSync(join(foreign, "holiday.jpg"), "not a replica");
  const dataDir = regsyncNode(t, cwd, [
    "--nats",
    server.url,
    "--http-listen",
    "",
    "--data-dir",
    foreign,
  ]);
  assert.equal(await exited(dataDir), 1, dataDir.stderr);
  assert.match(dataDir.stderr, /regsync node: .*holds no regsync data.*--data-dir/);
});
