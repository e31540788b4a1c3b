import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { renderBootstrapLine } from "../../src/cli/progress-bar.js";
import { TerminalStatus } from "../../src/cli/terminal-status.js";
import { InstanceSchema } from "../../src/core/mod.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { bootstrapProgress } from "../../src/sync/bootstrap-progress.js";
import { instance, startNode, stopAll } from "../node/fleet.js";
import { waitFor } from "../support/wait.js";

const exec = promisify(execFile);

test("a bootstrap line shows the bar, share, counts, rate and ETA, and never wraps", () => {
  const progress = bootstrapProgress("n1", 250_000, 1_000_000, 2_500);
  const line = renderBootstrapLine("n3", progress, 100);
  assert.match(line, /^n3 ← n1 {2}█+░+ +25\.0% {2}250,000\/1,000,000 {2}100,000\/s {2}ETA 7\.5 s$/);
  assert.equal((line.match(/█/g) ?? []).length * 3, (line.match(/░/g) ?? []).length);
  for (const columns of [20, 40, 60, 200]) {
    assert.ok(renderBootstrapLine("n3", progress, columns).length < columns, `${columns} columns`);
  }
  const done = { ...progress, entries: 1_000_000, state: "complete" as const, elapsedMs: 9_000 };
  assert.match(renderBootstrapLine("n3", done, 100), /100\.0%.*done in 9\.0 s$/);
});

test("text written to a terminal status goes above the status lines, which are redrawn", () => {
  let screen = "";
  const terminal = new TerminalStatus({ write: (text: string) => (screen += text), columns: 50 });
  terminal.show(["bar 1", "bar 2"]);
  assert.equal(screen, "bar 1\nbar 2");
  screen = "";
  terminal.write("a log line\n");
  // Erase both status lines (clear, up, clear), the log line, then the bars again.
  assert.equal(screen, "\r\x1b[2K\x1b[1A\r\x1b[2Ka log line\nbar 1\nbar 2");
  screen = "";
  terminal.commit();
  terminal.write("after\n");
  assert.equal(screen, "\nafter\n", "committed lines stay; nothing is erased any more");
});

test("regsync node in a terminal draws a progress bar while it bootstraps, logs above it", async (t) => {
  const server = await startNatsServer();
  const source = await startNode(server.url, "source", { syncIntervalMs: 60_000 });
  t.after(async () => {
    await stopAll([source]);
    await server.stop();
  });
  for (let i = 0; i < 20_000; i++)
    source.store.register(InstanceSchema.parse(instance("bulk", `i${i}`, { ttlMs: 600_000 })));
  // `script` gives the node a pseudo-terminal, as a person running it would have.
  const command = [
    process.execPath,
    "dist/src/cli/main.js",
    "node",
    "--nats",
    server.url,
    "--id",
    "fresh",
    "--memory",
    "--http-listen",
    "''",
    "--batch-max-entries",
    "500",
  ].join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { detached: true });
  t.after(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {}
  });
  let screen = "";
  child.stdout.on("data", (chunk: Buffer) => (screen += chunk.toString()));
  // Meanwhile, an operator waits for the fleet to be ready.
  const waiting = exec(
    process.execPath,
    [
      "dist/src/cli/main.js",
      "status",
      "--until-ready",
      "--node",
      "fresh",
      "--timeout",
      "30000",
      "--json",
    ],
    { env: { ...process.env, NATS_URL: server.url }, timeout: 40_000 },
  );
  await waitFor(() => screen.includes("node ready"), {
    timeoutMs: 30_000,
    message: `the node to report ready; its terminal showed:\n${screen}`,
  });
  assert.match(
    screen,
    /fresh ← source {2}█*░*\s+\d+\.\d% {2}[\d,]+\/20,000/,
    "a bar while streaming",
  );
  assert.match(
    screen,
    /fresh ← source {2}█+ {2}100\.0% {2}20,000\/20,000 .*done in/,
    "the final bar",
  );
  assert.ok(screen.includes("\x1b[2K"), "the bar is redrawn in place");
  assert.match(screen, /bootstrap complete/, "logs still reach the terminal");
  const { stdout } = await waiting;
  const nodes = JSON.parse(stdout) as { node: string; ready: boolean }[];
  assert.deepEqual(
    nodes.map((n) => [n.node, n.ready]),
    [
      ["fresh", true],
      ["source", true],
    ],
    "status --until-ready returns once the new node is ready",
  );
});
