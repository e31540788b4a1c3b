/**
 * The yardstick for bootstrap: how fast a NATS KV watcher catches up on a bucket of registry
 * entries, the way a registry built on JetStream KV would bootstrap a new replica. Measured on
 * the same machine in the same run, so the bootstrap rate is compared as a ratio, not against a
 * figure from another day.
 */
import { connect, StringCodec } from "nats";
import { instanceBody } from "../../src/core/mod.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import { syntheticInstance } from "./synthetic.js";

/** Publishes awaited per window, so loading is quick without unbounded pending acks. */
const PUBLISH_WINDOW = 1_000;

export interface KvWatchResult {
  entries: number;
  seconds: number;
  perSecond: number;
}

export async function kvWatchCatchUp(entries: number): Promise<KvWatchResult> {
  const server = await startNatsServer({ jetstream: true });
  const nc = await connect({ servers: server.url });
  try {
    const js = nc.jetstream();
    const kv = await js.views.kv("registry", { history: 1 });
    const codec = StringCodec();
    for (let from = 0; from < entries; from += PUBLISH_WINDOW) {
      const acks = [];
      for (let i = from; i < Math.min(entries, from + PUBLISH_WINDOW); i++) {
        const instance = syntheticInstance(i);
        // KV keys allow [-/_=.A-Za-z0-9]: the id's port separator becomes '_'.
        const key = `${instance.service}.${instance.id.replaceAll(":", "_")}`;
        acks.push(js.publish(`$KV.registry.${key}`, codec.encode(instanceBody(instance))));
      }
      await Promise.all(acks);
    }
    const started = performance.now();
    const watch = await kv.watch();
    let seen = 0;
    for await (const entry of watch) {
      if (entry.value.length > 0) seen++;
      if (seen === entries) break;
    }
    const seconds = (performance.now() - started) / 1000;
    watch.stop();
    return { entries, seconds, perSecond: entries / seconds };
  } finally {
    await nc.close();
    await server.stop();
  }
}
