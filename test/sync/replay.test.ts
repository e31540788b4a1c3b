import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Counter } from "prom-client";
import { parseNodeConfig } from "../../src/config/load.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { syncSubjects } from "../../src/subjects.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";
import { PROTOCOL_VERSION } from "../../src/sync/messages.js";
import { instance, startNode, stopAll } from "../node/fleet.js";
import { sharedNatsServer } from "../support/nats.js";
import { instanceTuple, rejectedCount } from "../support/peer-entries.js";
import { sleep, waitFor } from "../support/wait.js";

const json = new TextEncoder();
const REPLAYS = 20;

async function total(
  counter: Counter<string>,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = await counter.get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0);
}

/** What n2 believes of n1: any change to it is a replay taking effect. */
function beliefs(node: RegistryNode, peer: string) {
  const p = node.syncEngine.peers.get(peer);
  return (
    p && {
      epoch: p.epoch,
      announcedSeq: p.announcedSeq,
      digest: p.digest,
      count: p.count,
      state: p.state,
      cursor: p.cursor,
    }
  );
}

describe("replays change nothing", () => {
  const nats = sharedNatsServer();

  test("captured announcements (old seq, old epoch, leaving) replayed are dropped as stale", async (t) => {
    const prefix = "replay";
    const captured: Uint8Array[] = [];
    const codec = createSyncCodec(parseNodeConfig({ id: "tap", memory: true, httpListen: "" }));
    const tap = nats.nc.subscribe(syncSubjects(prefix).announce, {
      callback: (_e, msg) => {
        if ((codec.decode(msg.data).message as { node: string }).node === "n1")
          captured.push(Uint8Array.from(msg.data));
      },
    });
    t.after(() => tap.unsubscribe());
    // n1's first life: its announcements (periodic ones with 0 entries, then a leaving) captured.
    let n1 = await startNode(nats.server.url, "n1", { subjectPrefix: prefix });
    const n2 = await startNode(nats.server.url, "n2", { subjectPrefix: prefix });
    t.after(() => stopAll([n1, n2]));
    await waitFor(() => n2.syncEngine.peers.get("n1")?.lastSeenMs !== 0, {
      timeoutMs: 5_000,
      message: "n2 hears n1",
    });
    await sleep(500);
    await n1.stop();
    await nats.nc.flush();
    const firstLife = captured.length;
    // n1's second life: a new epoch, with data, converged with n2.
    n1 = await startNode(nats.server.url, "n1", { subjectPrefix: prefix });
    for (let i = 0; i < 20; i++)
      await nats.nc.request(
        `${prefix}.register`,
        json.encode(JSON.stringify(instance("api", `a${i}`))),
        { timeout: 5_000 },
      );
    await waitFor(
      () =>
        n2.store.size === 20 &&
        n2.syncEngine.isConverged() &&
        beliefs(n2, "n1")?.state === "healthy",
      { timeoutMs: 10_000, message: "converged with n1's second life" },
    );
    await sleep(300);
    const secondLife = captured.slice(firstLife);
    const before = beliefs(n2, "n1");
    const stale = await rejectedCount(n2, "stale");
    const reconciliations = await total(n2.metrics.reconciliations);
    const resets = await total(n2.metrics.syncRounds, { outcome: "reset" });
    const pulls = await total(n2.metrics.syncRounds);
    // Replay every announcement of both lives, in order, several times.
    const replays = [...captured.slice(0, firstLife), ...secondLife.slice(0, -1)];
    for (let round = 0; round < REPLAYS; round++)
      for (const bytes of replays) nats.nc.publish(syncSubjects(prefix).announce, bytes);
    await nats.nc.flush();
    await waitFor(
      async () => (await rejectedCount(n2, "stale")) >= stale + REPLAYS * replays.length,
      {
        timeoutMs: 10_000,
        message: "every replay counted as stale",
      },
    );
    const after = beliefs(n2, "n1");
    // Genuine announcements may have moved n1's stamp meanwhile; nothing a replay says did.
    assert.deepEqual({ ...after }, { ...before });
    assert.equal(after?.state, "healthy", "a replayed leaving marked a live node as left");
    assert.equal(await total(n2.metrics.reconciliations), reconciliations);
    assert.equal(await total(n2.metrics.syncRounds, { outcome: "reset" }), resets);
    assert.ok((await total(n2.metrics.syncRounds)) - pulls <= 2, "replays triggered pulls");
    assert.ok(n2.syncEngine.isConverged());
  });

  test("a killed node's announcements replayed do not keep it alive: its leases expire on time", async (t) => {
    const prefix = "replay-killed";
    const subjects = syncSubjects(prefix);
    const codec = createSyncCodec(parseNodeConfig({ id: "tap", memory: true, httpListen: "" }));
    // Three nodes: the two survivors are a majority of the nodes known, which ending a lapse
    // needs (docs/watch.md).
    const nodes = await Promise.all(
      ["n1", "n2", "n3"].map((id) => startNode(nats.server.url, id, { subjectPrefix: prefix })),
    );
    t.after(() => stopAll(nodes));
    const captured = new Map<string, Uint8Array[]>();
    const tap = nats.nc.subscribe(subjects.announce, {
      callback: (_e, msg) => {
        const { node } = codec.decode(msg.data).message as { node: string };
        captured.set(node, [...(captured.get(node) ?? []), Uint8Array.from(msg.data)]);
      },
    });
    t.after(() => tap.unsubscribe());
    const expired = new Set<string>();
    const changes = nats.nc.subscribe(`${prefix}.changes.>`, {
      callback: (_e, msg) => {
        const event = JSON.parse(new TextDecoder().decode(msg.data)) as {
          type: string;
          id: string;
        };
        if (event.type === "expired") expired.add(event.id);
      },
    });
    t.after(() => changes.unsubscribe());
    for (let i = 0; i < 6; i++)
      await nats.nc.request(
        `${prefix}.register`,
        json.encode(JSON.stringify(instance("short", `s${i}`, { ttlMs: 2_000 }))),
        { timeout: 5_000 },
      );
    await waitFor(() => nodes.every((n) => n.store.size === 6), {
      timeoutMs: 5_000,
      message: "every node holds every lease",
    });
    await sleep(400);
    // The owner of s0 is cut off without a goodbye, as a SIGKILL leaves it; its leases are now
    // the survivor's to expire, unless replays of its announcements keep it "alive".
    const victim = nodes.find((n) => n.id === nodes[0]!.store.get("short", "s0")?.node)!;
    const survivors = nodes.filter((n) => n !== victim);
    const survivor = survivors[0]!;
    const owned = Array.from({ length: 6 }, (_, i) => `s${i}`).filter(
      (id) => survivor.store.get("short", id)?.node === victim.id,
    );
    await victim.connection.close();
    const replays = captured.get(victim.id) ?? [];
    assert.ok(replays.length > 0, "the victim's announcements captured");
    const stale = await rejectedCount(survivor, "stale");
    const started = Date.now();
    // Replayed every 100 ms for 6 s: three times a lease, twice the liveness window.
    for (let round = 0; round < 60; round++) {
      for (const bytes of replays) nats.nc.publish(subjects.announce, bytes);
      await sleep(100);
      if (owned.every((id) => expired.has(id))) break;
    }
    assert.deepEqual(
      owned.filter((id) => !expired.has(id)),
      [],
      `leases of the killed ${victim.id} not expired ${Date.now() - started} ms after the kill`,
    );
    for (const node of survivors)
      assert.ok(
        node.syncEngine.livePeers().every((p) => p.id !== victim.id),
        `replays kept the killed node alive for ${node.id}`,
      );
    assert.ok((await rejectedCount(survivor, "stale")) > stale, "replays counted as stale");
  });

  test("a pull reply that does not echo the request's nonce and since is rejected as stale", async (t) => {
    const prefix = "replay-pull";
    const node = await startNode(nats.server.url, "n2", { subjectPrefix: prefix });
    t.after(() => stopAll([node]));
    const codec = createSyncCodec(parseNodeConfig({ id: "p", memory: true, httpListen: "" }));
    const subjects = syncSubjects(prefix);
    const entries = [instanceTuple("back", "b1", { node: "p" })];
    const batch = (nonce: string | undefined, since: number) =>
      codec.encode(
        {
          type: "batch",
          v: PROTOCOL_VERSION,
          node: "p",
          epoch: "pe",
          since,
          cursor: 1,
          head: 1,
          complete: true,
          entries,
          ...(nonce ? { nonce } : {}),
        },
        true,
      ).bytes;
    const answers: ((request: { nonce: string; since: number }) => Uint8Array)[] = [
      () => batch("0123456789abcdef", 0), // captured from another request
      (r) => batch(r.nonce, r.since + 1), // the right nonce, another since
      () => batch(undefined, 0), // no nonce at all
    ];
    let served = 0;
    const sub = nats.nc.subscribe(subjects.pull("p"), {
      callback: (_e, msg) => {
        const request = codec.decode(msg.data).message as { nonce: string; since: number };
        msg.respond(answers[Math.min(served++, answers.length - 1)]!(request));
      },
    });
    t.after(() => sub.unsubscribe());
    const before = await rejectedCount(node, "stale");
    nats.nc.publish(
      subjects.announce,
      codec.encode(
        {
          type: "announce",
          v: PROTOCOL_VERSION,
          node: "p",
          epoch: "pe",
          seq: 1,
          digest: "0".repeat(32),
          count: 1,
          accepts: [],
          at: 1,
        },
        false,
      ).bytes,
    );
    await waitFor(async () => (await rejectedCount(node, "stale")) >= before + 3, {
      timeoutMs: 10_000,
      message: "three stale replies counted",
    });
    assert.equal(node.store.get("back", "b1"), undefined);
  });
});
