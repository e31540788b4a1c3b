import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { VERSION } from "../../src/version.js";
import { waitFor } from "../support/wait.js";

const exec = promisify(execFile);
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

test("package.json builds on prepare, needs Node 20.15, and keeps pino-pretty optional", () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
    scripts: Record<string, string>;
    engines: { node: string };
    dependencies: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  };
  assert.equal(pkg.scripts.prepare, "npm run build");
  assert.equal(pkg.engines.node, ">=20.15");
  assert.equal(pkg.dependencies["pino-pretty"], undefined);
  assert.ok(pkg.optionalDependencies?.["pino-pretty"]);
});

test("npm pack ships a working package: installed from the tarball, regsync runs", {
  timeout: 300_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "regsync-pack-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // dist/ is built by `npm test`'s pretest; rebuilding here would rewrite files other tests
  // are reading, so the prepare script is checked above and skipped here.
  const { stdout } = await exec(
    NPM,
    ["pack", "--ignore-scripts", "--json", "--pack-destination", dir],
    { maxBuffer: 64 << 20 },
  );
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  const files = packed!.files.map((f) => f.path);
  for (const expected of [
    "dist/src/cli/main.js",
    "dist/src/client/mod.js",
    "dist/src/client/mod.d.ts",
    "docs/client.md",
    "docs/metrics.md",
    "deploy/README.md",
    "README.md",
  ]) {
    assert.ok(files.includes(expected), `${expected} is not in the package`);
  }
  assert.ok(!files.some((f) => f.startsWith("dist/test/") || f.startsWith("src/")));

  const app = join(dir, "app");
  await exec("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), '{"name":"app","private":true}\n');
  await exec(
    NPM,
    ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, packed!.filename)],
    { cwd: app, maxBuffer: 64 << 20, timeout: 240_000 },
  );
  const bin = join(app, "node_modules", ".bin", "regsync");
  const version = await exec(bin, ["--version"], { cwd: app });
  assert.equal(version.stdout.trim(), VERSION);

  // The client's types are exported where the docs say.
  const types = readFileSync(
    join(app, "node_modules", "regsync", "dist", "src", "client", "mod.d.ts"),
    "utf8",
  );
  assert.match(types, /InstanceInput, Status/);

  // `regsync dev` from the installed package: a fleet starts, Ctrl-C stops it cleanly,
  // with no colour codes in a pipe and no warning about connections it closed itself.
  const dev = spawn(bin, ["dev", "--nodes", "2"], {
    cwd: app,
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => {
    if (dev.exitCode === null) dev.kill("SIGKILL");
  });
  let output = "";
  dev.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  dev.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  await waitFor(() => (output.match(/node ready/g) ?? []).length >= 2, {
    timeoutMs: 60_000,
    message: "two dev nodes ready",
  });
  const exited = new Promise<number | null>((resolve) => dev.once("exit", resolve));
  dev.kill("SIGINT");
  assert.equal(await exited, 0, output);
  assert.ok(!output.includes("\u001b["), "colour codes written to a pipe");
  assert.doesNotMatch(output, /WARN/, output);
  assert.match(output, /node stopped/);
});
