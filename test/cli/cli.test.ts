import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { connect } from "nats";
import { NODE_RUNTIME_FLAGS } from "../../src/cli/runtime-flags.js";
import { RegistryClient } from "../../src/client/mod.js";
import { type NatsServerHandle, startNatsServer } from "../../src/dev/nats-server.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { instance, startNode, stopAll } from "../node/fleet.js";

const exec = promisify(execFile);
let server: NatsServerHandle;
let nodes: RegistryNode[] = [];

async function regsync(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(
      process.execPath,
      ["dist/src/cli/main.js", ...args, "--nats", server.url],
      { timeout: 15_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

before(async () => {
  server = await startNatsServer();
  nodes = [await startNode(server.url, "cli-a"), await startNode(server.url, "cli-b")];
});
after(async () => {
  await stopAll(nodes);
  await server?.stop();
});

test("the executable starts node with the node's runtime flags", async () => {
  const main = "dist/src/cli/main.js";
  const shebang = readFileSync(main, "utf8").split("\n", 1)[0]!;
  assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_RUNTIME_FLAGS.join(" ")}`);
  // What the kernel runs for `regsync`: the interpreter, the rest of the line as one argument,
  // then the script.
  const line = shebang.slice(2);
  const space = line.indexOf(" ");
  const { stdout } = await exec(line.slice(0, space), [line.slice(space + 1), main, "--version"], {
    env: {
      ...process.env,
      PATH: `${process.execPath.replace(/\/[^/]*$/, "")}:${process.env.PATH}`,
    },
  });
  assert.match(stdout, /\d+\.\d+\.\d+/);
  // The benchmarks measure the core as a node runs it.
  const scripts = JSON.parse(readFileSync("package.json", "utf8")).scripts as { bench: string };
  for (const flag of NODE_RUNTIME_FLAGS) assert.ok(scripts.bench.includes(flag), scripts.bench);
});

test("register, lookup and services print what they did", async () => {
  const reg = await regsync(
    "register",
    "--service",
    "pay",
    "--id",
    "p1",
    "--host",
    "10.0.0.9",
    "--port",
    "443",
    "--tag",
    "zone=a",
    "--status",
    "running",
  );
  assert.equal(reg.code, 0, reg.stderr);
  assert.match(reg.stdout, /^registered pay\/p1 \(node cli-[ab]\), lease until \d\d:\d\d:\d\d/);
  // The write's causal token: a later command passes it to see the write wherever it lands.
  const token = /^token (\S+)$/m.exec(reg.stdout)?.[1];
  assert.match(token ?? "", /^cli-[ab]:[0-9a-f]+:\d+$/);
  const after = await regsync("lookup", "pay", "--after", token!, "--json");
  assert.equal(JSON.parse(after.stdout)[0].id, "p1");
  const lookup = await regsync("lookup", "pay", "--tag", "zone=a");
  assert.match(lookup.stdout, /p1\s+10\.0\.0\.9:443\s+running/);
  const json = await regsync("lookup", "pay", "--json");
  assert.equal(JSON.parse(json.stdout)[0].id, "p1");
  const services = await regsync("services");
  assert.match(services.stdout, /pay\s+1\s+1/);
});

test("lookup --prefer region --regions prints the answering node and its view of each region", async () => {
  const reply = await regsync("lookup", "pay", "--prefer", "region", "--regions");
  assert.equal(reply.code, 0, reply.stderr);
  assert.match(reply.stdout, /answered by cli-[ab] \(region default\)/);
  assert.match(reply.stdout, /default\s+2\/2\s+\(this region\)\s+ok\s+yes/);
  const json = JSON.parse((await regsync("lookup", "pay", "--regions", "--json")).stdout);
  assert.equal(json.nodeRegion, "default");
  const bad = await regsync("lookup", "pay", "--prefer", "zone");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--prefer takes "region"/);
});

test("bad flags exit 2, registry errors exit 1 with the code", async () => {
  const bad = await regsync("register", "--service", "pay", "--bogus");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown option '--bogus'/);
  const missing = await regsync("heartbeat", "--service", "pay", "--id", "nobody");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not_found/);
  const invalid = await regsync(
    "register",
    "--service",
    "a.b",
    "--id",
    "x",
    "--host",
    "h",
    "--port",
    "80",
  );
  // Checked before anything is sent, and named as the flag.
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /--service: 1-64 characters/);
  const limits = await regsync(
    "register",
    "--service",
    "pay",
    "--id",
    "x",
    "--host",
    "h",
    "--port",
    "0",
    "--ttl",
    "10",
  );
  assert.equal(limits.code, 2);
  assert.match(limits.stderr, /--port: .*>=1/);
  assert.match(limits.stderr, /--ttl: .*>=1000/);
  assert.doesNotMatch(limits.stderr, /ttlMs/);
});

test("status shows every node and its peers", async () => {
  const status = await regsync("status", "--json");
  assert.equal(status.code, 0, status.stderr);
  const replies = JSON.parse(status.stdout) as { node: string; peers: { id: string }[] }[];
  assert.deepEqual(
    replies.map((r) => r.node),
    ["cli-a", "cli-b"],
  );
  assert.deepEqual(
    replies[0]!.peers.map((p) => p.id),
    ["cli-b"],
  );
  const text = await regsync("status");
  assert.match(text.stdout, /node cli-a {2}region default .*ready/);
  assert.match(text.stdout, /cli-b\s+default\s+healthy/);
});

test("lookup prints registered control and bidi characters escaped, one row per instance", async () => {
  const nc = await connect({ servers: server.url });
  try {
    // A host is checked at registration; version, region and the service list are free text.
    await new RegistryClient(nc).register(
      instance("tty", "t1", { version: "\u001b[2K\u001b[1A\u202e1.0", region: "eu\r\nfake" }),
      { keepAlive: false },
    );
  } finally {
    await nc.close();
  }
  const lookup = await regsync("lookup", "tty");
  assert.equal(lookup.code, 0, lookup.stderr);
  for (const raw of ["\u001b", "\r", "\u202e"]) assert.ok(!lookup.stdout.includes(raw), raw);
  assert.match(lookup.stdout, /\\u\{1b\}\[2K\\u\{1b\}\[1A\\u\{202e\}1\.0\s+eu\\u\{d\}\\u\{a\}fake/);
  assert.equal(lookup.stdout.split("\n").filter((l) => l.startsWith("t1 ")).length, 1);
});
