// Rolling restart of 3 durable `regsync node` processes of the build in the checkout TREE
// (`node bench/baseline/rolling-restart.mjs TREE`), under ~100 client ops/s driven by that
// build's own client, so an older build is measured as it was: client replies by code and
// time to ready per node.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const TREE = process.argv[2];
const { connect } = await import("nats");
const { RegistryClient } = await import(join(TREE, "dist/src/client/client.js"));
const { startNatsServer } = await import(join(TREE, "dist/src/dev/nats-server.js"));
const MAIN = join(TREE, "dist/src/cli/main.js");
const server = await startNatsServer();
const dir = mkdtempSync(join(tmpdir(), "roll-"));
const spawnNode = (id) => {
  const child = spawn(
    process.execPath,
    [
      MAIN,
      "node",
      "--nats",
      server.url,
      "--id",
      id,
      "--data-dir",
      join(dir, id),
      "--http-listen",
      "",
      "--log-level",
      "error",
    ],
    { stdio: "ignore" },
  );
  return { id, child, exited: new Promise((r) => child.once("exit", r)) };
};
const nc = await connect({ servers: server.url });
const statuses = async () => {
  const out = [];
  try {
    for await (const m of await nc.requestMany("registry.status", undefined, { maxWait: 300 }))
      out.push(JSON.parse(new TextDecoder().decode(m.data)));
  } catch {}
  return out;
};
const procs = ["r1", "r2", "r3"].map(spawnNode);
for (let t = 0; t < 200 && (await statuses()).filter((s) => s.ready).length < 3; t++)
  await sleep(50);
const client = new RegistryClient(nc, { timeoutMs: 5_000 });
const codes = new Map();
let running = true;
let n = 0;
const count = (c) => codes.set(c, (codes.get(c) ?? 0) + 1);
const load = (async () => {
  while (running) {
    const id = `load-${n % 200}`;
    const op = n++ % 4;
    try {
      if (op === 0)
        await client.register({ service: "load", id, host: "h", port: 1 }, { keepAlive: false });
      else if (op === 1) await client.heartbeat("load", `load-${(n - 2) % 200}`);
      else if (op === 2) await client.lookup("load");
      else await client.deregister("load", `load-${(n - 4) % 200}`);
      count("ok");
    } catch (e) {
      count(e?.code ?? "other");
    }
    await sleep(10);
  }
})();
await sleep(1_000);
const ready = [];
for (let i = 0; i < 3; i++) {
  const old = procs[i];
  old.child.kill("SIGTERM");
  await old.exited;
  const started = Date.now();
  procs[i] = spawnNode(old.id);
  for (let t = 0; t < 600; t++) {
    const me = (await statuses()).find((s) => s.node === old.id);
    if (me?.ready) {
      ready.push(Date.now() - started);
      break;
    }
    await sleep(20);
  }
  await sleep(500);
}
running = false;
await load;
console.log(JSON.stringify({ tree: TREE, replies: Object.fromEntries(codes), readyMs: ready }));
for (const p of procs) p.child.kill("SIGTERM");
await Promise.all(procs.map((p) => p.exited));
await nc.close();
await server.stop();
rmSync(dir, { recursive: true, force: true });
