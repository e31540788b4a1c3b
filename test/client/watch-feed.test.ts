import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { headers } from "nats";
import { RegistryClient, type WatchEvent } from "../../src/client/mod.js";
import { CHANGE_HEADERS } from "../../src/node/changes.js";
import { instance, startNode, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { waitFor } from "../support/wait.js";

const nats = sharedNatsServer();
const text = new TextEncoder();

const ids = (list: { id: string }[]) => list.map((i) => i.id).sort();

test("writes to other services never make a watch resync", async (t) => {
  const node = await startNode(nats.server.url, "f1", { subjectPrefix: "feed1" });
  t.after(() => stopAll([node]));
  const client = new RegistryClient(nats.nc, { prefix: "feed1" });
  const events: WatchEvent[] = [];
  const watch = await client.watch("web", (e) => events.push(e), { resyncIntervalMs: 600_000 });
  t.after(() => watch.stop());
  for (let i = 0; i < 6; i++) {
    await client.register(instance("web", `w${i}`), { keepAlive: false });
    if (i < 5) await client.register(instance("api", `a${i}`), { keepAlive: false });
  }
  await waitFor(() => watch.instances().length === 6, { message: "six web instances seen" });
  assert.equal(watch.resyncs, 1, "only the initial snapshot");
  assert.equal(events.filter((e) => e.synthetic).length, 0);
});

test("a notification without the numbering headers is ignored and counted", async (t) => {
  const node = await startNode(nats.server.url, "f2", { subjectPrefix: "feed2" });
  t.after(() => stopAll([node]));
  const client = new RegistryClient(nats.nc, { prefix: "feed2" });
  await client.register(instance("web", "w1", { port: 80 }), { keepAlive: false });
  const watch = await client.watch("web", () => {}, { resyncIntervalMs: 600_000 });
  t.after(() => watch.stop());
  const forged = { ...instance("web", "w1", { port: 6666, host: "evil" }), node: "f2" };
  nats.nc.publish(
    "feed2.changes.web",
    text.encode(
      JSON.stringify({
        type: "updated",
        service: "web",
        id: "w1",
        instance: forged,
        node: "f2",
        version: Number.MAX_SAFE_INTEGER - 1,
      }),
    ),
  );
  // A real change after the forgery: once it is seen, the forgery has been handled too.
  await client.register(instance("web", "w2"), { keepAlive: false });
  await waitFor(() => watch.instances().length === 2, { message: "the real change seen" });
  assert.equal(watch.ignored, 1);
  assert.equal(watch.instances().find((i) => i.id === "w1")?.port, 80);
});

test("a durable restart numbers its notifications under a new epoch", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "regsync-feed-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const settings = { subjectPrefix: "feed3", memory: false, dataDir: join(dir, "n") };
  let node = await startNode(nats.server.url, "f3", settings);
  t.after(() => stopAll([node]));
  const seen: string[] = [];
  const sub = nats.nc.subscribe("feed3.changes.web", {
    callback: (_err, msg) =>
      seen.push(
        `${msg.headers?.get(CHANGE_HEADERS.epoch)}/${msg.headers?.get(CHANGE_HEADERS.seq)}`,
      ),
  });
  t.after(() => sub.unsubscribe());
  await nats.nc.flush();
  const client = new RegistryClient(nats.nc, { prefix: "feed3" });
  for (let i = 0; i < 3; i++) await client.register(instance("web", `w${i}`), { keepAlive: false });
  await node.stop();
  node = await startNode(nats.server.url, "f3", settings);
  for (let i = 3; i < 6; i++) await client.register(instance("web", `w${i}`), { keepAlive: false });
  await waitFor(() => seen.length === 6, { message: "six notifications" });
  assert.equal(new Set(seen).size, 6, `a (node, epoch, seq) was reused: ${seen.join(" ")}`);
  assert.deepEqual(
    seen.map((s) => s.split("/")[1]),
    ["1", "2", "3", "1", "2", "3"],
  );
});

test("a gap brings only what changed since, merged by version", async (t) => {
  const node = await startNode(nats.server.url, "f4", { subjectPrefix: "feed4" });
  t.after(() => stopAll([node]));
  const client = new RegistryClient(nats.nc, { prefix: "feed4" });
  for (let i = 0; i < 40; i++)
    await client.register(instance("web", `w${i}`, { tags: { filler: "x".repeat(100) } }), {
      keepAlive: false,
    });
  const events: WatchEvent[] = [];
  const watch = await client.watch("web", (e) => events.push(e), { resyncIntervalMs: 600_000 });
  t.after(() => watch.stop());
  const full = watch.stats().lastResyncBytes;
  // A resync asks from a little before the version it missed (docs/watch.md): let the
  // registrations above fall out of that margin, so the reply shows what a differential saves.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  // A notification numbered ahead of the node's feed: the watch missed some and asks for what
  // changed since the last version it had from that node.
  let numbering: { epoch: string; seq: number } | undefined;
  const sub = nats.nc.subscribe("feed4.changes.web", {
    callback: (_err, msg) => {
      numbering = {
        epoch: msg.headers!.get(CHANGE_HEADERS.epoch),
        seq: Number(msg.headers!.get(CHANGE_HEADERS.seq)),
      };
    },
  });
  t.after(() => sub.unsubscribe());
  await nats.nc.flush();
  await client.register(instance("web", "late"), { keepAlive: false });
  await waitFor(() => watch.instances().length === 41 && numbering !== undefined);
  const h = headers();
  h.set(CHANGE_HEADERS.node, "f4");
  h.set(CHANGE_HEADERS.epoch, numbering!.epoch);
  h.set(CHANGE_HEADERS.seq, String(numbering!.seq + 5));
  nats.nc.publish(
    "feed4.changes.web",
    text.encode(
      '{"type":"deregistered","service":"web","id":"w0","instance":null,"node":"f4","version":0}',
    ),
    { headers: h },
  );
  await client.deregister("web", "w1");
  await waitFor(() => watch.stats().resyncBytes > full, { message: "resynced after the gap" });
  await waitFor(() => watch.instances().length === 40);
  const stats = watch.stats();
  assert.equal(stats.resyncs.gap, 1);
  assert.equal(stats.fullReplies, 1, "only the first snapshot is the whole service");
  assert.ok(
    stats.lastResyncBytes * 5 < full,
    `differential reply ${stats.lastResyncBytes} B vs full ${full} B`,
  );
  assert.deepEqual(ids(watch.instances()), ids(await client.lookup("web")));
  // Per instance, versions only move forward.
  const last = new Map<string, number>();
  for (const e of events) {
    assert.ok(e.version >= (last.get(e.id) ?? 0), `event for ${e.id} older than one delivered`);
    last.set(e.id, e.version);
  }
});
