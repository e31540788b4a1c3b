import assert from "node:assert/strict";
import { test } from "node:test";
import pino from "pino";
import { syntheticInstance } from "../../bench/fleet/synthetic.js";
import { Announcer, LOADED_ANNOUNCE_GAP_MS } from "../../src/sync/announcer.js";
import type { Announce } from "../../src/sync/messages.js";
import { NO_SYNC_METRICS } from "../../src/sync/sync-metrics.js";
import type { SyncTransport } from "../../src/sync/transport.js";
import { VirtualTimers } from "../../src/sync/virtual-timers.js";
import { testStore } from "../support/store.js";

/** An announcer over virtual time; `sent` lists the inline announcements with when they left,
 * `heads` every announcement's seq. `fleet.size` is the fleet size the announcer sees. */
function announcing(fleet = { size: 3 }) {
  const timers = new VirtualTimers(3);
  const store = testStore("n1", () => timers.now(), "e1");
  const sent: { at: number; writes: number }[] = [];
  const heads: number[] = [];
  const announcer = new Announcer({
    transport: { publish: () => {}, isClosed: () => false } as unknown as SyncTransport,
    subject: "registry.sync.announce",
    store,
    codec: {
      encode: (message) => {
        heads.push((message as Announce).seq);
        const entries = (message as Announce).entries;
        if (entries !== undefined && entries.length > 0)
          sent.push({ at: timers.now(), writes: entries.length });
        return new Uint8Array(0);
      },
      decode: () => undefined,
    },
    timers,
    metrics: NO_SYNC_METRICS,
    log: pino({ level: "silent" }),
    announceDelayMs: 0,
    syncIntervalMs: 60_000,
    inlineChangesMaxBytes: 32 * 1024,
    batchMaxEntries: 5_000,
    accepts: [],
    fleetSize: () => fleet.size,
  });
  let next = 0;
  const write = () => {
    store.register(syntheticInstance(next++));
    announcer.notifyChange();
  };
  return { timers, announcer, sent, heads, write, store };
}

test("a write after a quiet spell is announced at once; under sustained writes, one announcement per gap carries them all", async () => {
  const { timers, announcer, sent, write } = announcing();
  announcer.start();
  const started = timers.now();
  write();
  await timers.runFor(0);
  assert.deepEqual(sent, [{ at: started, writes: 1 }], "the first write leaves at once");
  for (let ms = 0; ms < LOADED_ANNOUNCE_GAP_MS; ms++) {
    write();
    write();
    await timers.runFor(1);
  }
  assert.equal(sent.length, 2, `${JSON.stringify(sent)}`);
  assert.equal(sent[1]!.at, started + LOADED_ANNOUNCE_GAP_MS, "the next waits for the gap");
  assert.equal(sent[1]!.writes, 2 * LOADED_ANNOUNCE_GAP_MS, "and carries every write meanwhile");
  await timers.runFor(1_000);
  const quiet = timers.now();
  write();
  await timers.runFor(0);
  assert.deepEqual(sent.at(-1), { at: quiet, writes: 1 }, "after a quiet spell, at once again");
  announcer.stop();
});

test("a node that knows no peer announces its head without entries; once one is known, the writes after it go inline", async () => {
  const fleet = { size: 1 };
  const { timers, announcer, sent, heads, write, store } = announcing(fleet);
  announcer.start();
  write();
  write();
  await timers.runFor(1_000);
  assert.equal(sent.length, 0, "no entries rendered for nobody");
  assert.equal(heads.at(-1), store.seq, "the head still tells a newcomer what to pull");
  fleet.size = 2;
  write();
  await timers.runFor(1_000);
  assert.deepEqual(
    sent.map((s) => s.writes),
    [1],
    "only the write made since the last announcement",
  );
  announcer.stop();
});
