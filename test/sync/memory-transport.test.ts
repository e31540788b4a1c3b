import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MemoryNetwork } from "../../src/sync/memory-transport.js";
import { VirtualTimers } from "../../src/sync/virtual-timers.js";

const bytes = (n: number) => new Uint8Array([n]);

/** What `listener` hears of `count` messages published on a network with these options. */
async function heard(seed: number, options: { dropRate?: number; duplicateRate?: number }) {
  const timers = new VirtualTimers(seed);
  const network = new MemoryNetwork({ timers, minDelayMs: 0, maxDelayMs: 20, ...options });
  const sender = network.connect("a");
  const listener = network.connect("b");
  const got: number[] = [];
  listener.subscribe("s", (msg) => got.push(msg.data[0]!));
  for (let i = 0; i < 100; i++) sender.publish("s", bytes(i));
  await timers.runFor(100);
  return { got, counts: network.counts };
}

describe("the in-memory transport", () => {
  test("the same seed replays the same deliveries; delays reorder", async () => {
    const first = await heard(7, { dropRate: 0.1, duplicateRate: 0.1 });
    const again = await heard(7, { dropRate: 0.1, duplicateRate: 0.1 });
    assert.deepEqual(first.got, again.got);
    const other = await heard(8, { dropRate: 0.1, duplicateRate: 0.1 });
    assert.notDeepEqual(first.got, other.got);
    const ordered = [...first.got].sort((x, y) => x - y);
    assert.notDeepEqual(first.got, ordered, "reordered");
  });

  test("drops and duplicates at the configured rates", async () => {
    const { got, counts } = await heard(1, { dropRate: 0.2, duplicateRate: 0.2 });
    assert.ok(counts.dropped > 5 && counts.dropped < 40, `dropped ${counts.dropped}`);
    assert.ok(counts.duplicated > 5, `duplicated ${counts.duplicated}`);
    assert.equal(got.length, 100 - counts.dropped + counts.duplicated);
    const clean = await heard(1, {});
    assert.deepEqual(
      [...clean.got].sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i),
    );
  });

  test("requests get replies, time out on virtual time, fail fast with no responders", async () => {
    const timers = new VirtualTimers(3);
    const network = new MemoryNetwork({ timers, maxDelayMs: 2 });
    const client = network.connect("client");
    const server = network.connect("server");
    server.subscribe("echo", (msg) => msg.respond(msg.data));
    const reply = client.request("echo", bytes(42), { timeoutMs: 1_000 });
    await timers.runFor(10);
    assert.deepEqual([...(await reply)], [42]);

    await assert.rejects(client.request("nobody", bytes(1), { timeoutMs: 1_000 }), {
      code: "503",
    });

    network.partition([["client"], ["server"]]);
    const cut = client.request("echo", bytes(1), { timeoutMs: 1_000 });
    let settled = false;
    cut.catch(() => {}).finally(() => (settled = true));
    await timers.runFor(999);
    assert.equal(settled, false, "no timeout before the virtual deadline");
    await timers.runFor(1);
    await assert.rejects(cut, { code: "TIMEOUT" });
    network.heal();
    server.alive = false;
    const dead = assert.rejects(client.request("echo", bytes(1), { timeoutMs: 50 }), {
      code: "TIMEOUT",
    });
    await timers.runFor(50);
    await dead;
  });

  test("messages over max_payload are refused, as NATS does; closed endpoints refuse all", async () => {
    const timers = new VirtualTimers(4);
    const network = new MemoryNetwork({ timers, maxPayload: 10 });
    const a = network.connect("a");
    assert.throws(() => a.publish("s", new Uint8Array(11)), { code: "MAX_PAYLOAD_EXCEEDED" });
    await assert.rejects(a.request("s", new Uint8Array(11), { timeoutMs: 10 }), {
      code: "MAX_PAYLOAD_EXCEEDED",
    });
    a.close();
    assert.equal(a.isClosed(), true);
    assert.throws(() => a.publish("s", bytes(1)), { code: "CLOSED" });
    await assert.rejects(a.request("s", bytes(1), { timeoutMs: 10 }), { code: "CLOSED" });
  });

  test("a slow endpoint's messages arrive later", async () => {
    const timers = new VirtualTimers(5);
    const network = new MemoryNetwork({ timers, minDelayMs: 1, maxDelayMs: 1 });
    const slow = network.connect("slow");
    const b = network.connect("b");
    slow.extraDelayMs = 100;
    const got: number[] = [];
    b.subscribe("s", () => got.push(timers.now()));
    const start = timers.now();
    slow.publish("s", bytes(1));
    await timers.runFor(200);
    assert.deepEqual(got, [start + 101]);
  });
});
