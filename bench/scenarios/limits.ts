import { connect } from "nats";
import { RegistryClient } from "../../src/client/mod.js";
import { startNatsServer } from "../../src/dev/nats-server.js";
import type { RegistryNode } from "../../src/node/registry-node.js";
import { readRawPages } from "../../test/support/pages.js";
import { startInProcessNode } from "../fleet/in-process-node.js";
import { realisticRegistration } from "../fleet/synthetic.js";
import {
  atLeast,
  atMost,
  type BenchContext,
  type BenchRow,
  median,
  type Scenario,
} from "../scenario.js";

const encoder = new TextEncoder();

async function counter(node: RegistryNode, label: string): Promise<number> {
  const metric = await node.metrics.requests.get();
  return metric.values.filter((v) => v.labels.code === label).reduce((s, v) => s + v.value, 0);
}

/**
 * The limits of issue 13 on one node: a 5,000-instance service read through pages (every
 * lookup answered, how many pages and bytes), the quota on services refusing and counting what
 * is over it, and requests naming a non-inbox reply subject dropped and counted.
 */
async function run(context: BenchContext): Promise<BenchRow[]> {
  const instances = context.quick ? 2_000 : 5_000;
  const lookups = context.quick ? 10 : 50;
  const maxServices = 1_000;
  const server = await startNatsServer();
  const node = await startInProcessNode(server.url, "limits", {
    logLevel: "error",
    maxServices,
    maxRegistrationsPerSecondPerService: 0,
  });
  const nc = await connect({ servers: server.url });
  try {
    const client = new RegistryClient(nc, { timeoutMs: 10_000 });
    for (let start = 0; start < instances; start += 256) {
      const batch = [];
      for (let i = start; i < Math.min(instances, start + 256); i++)
        batch.push(client.call("register", realisticRegistration("big", `big-${i}`)));
      await Promise.all(batch);
    }
    context.log(`${instances} instances of service big registered`);
    const maxPayload = nc.info!.max_payload;
    const {
      pages,
      bytes,
      largest: largestPage,
    } = await readRawPages(nc, "registry.lookup", {
      service: "big",
    });
    const times: number[] = [];
    let answered = 0;
    for (let i = 0; i < lookups; i++) {
      const started = performance.now();
      const found = await client.lookup("big").catch(() => []);
      times.push(performance.now() - started);
      if (found.length === instances) answered++;
    }

    // Services: 20% more than the quota, from one client.
    const attempts = Math.round(maxServices * 1.2);
    for (let start = 0; start < attempts; start += 256) {
      const batch = [];
      for (let i = start; i < Math.min(attempts, start + 256); i++)
        batch.push(
          client.call("register", realisticRegistration(`svc-${i}`, "a")).catch(() => undefined),
        );
      await Promise.all(batch);
    }
    const quotaErrors = await counter(node, "quota_exceeded");
    const listed = (await client.services()).length;

    // Reflection: lookups whose reply subject is a registry subject.
    const reflections = 100;
    for (let i = 0; i < reflections; i++) {
      nc.publish("registry.lookup", encoder.encode('{"service":"big"}'), {
        reply: "registry.changes.big",
      });
    }
    await nc.flush();
    await client.lookup("big");
    const dropped = (await node.metrics.requestsDropped.get()).values.reduce(
      (s, v) => s + v.value,
      0,
    );
    return [
      atLeast(
        `lookups of a ${instances}-instance service answered`,
        answered,
        `of ${lookups}`,
        lookups,
      ),
      { metric: "pages per full lookup", value: pages, unit: "pages", note: `default limit 1,000` },
      { metric: "bytes per full lookup", value: bytes, unit: "bytes" },
      atMost("largest page", largestPage, "bytes", maxPayload, `server max_payload ${maxPayload}`),
      {
        metric: "full lookup, median",
        value: median(times),
        unit: "ms",
        note: "all pages, client side",
      },
      atLeast(
        `quota_exceeded counted (${attempts} new services, quota ${maxServices})`,
        quotaErrors,
        "requests",
        attempts - maxServices,
        `regsync_requests_total{code="quota_exceeded"}; services listed: ${listed}`,
      ),
      atLeast(
        "non-inbox replies dropped and counted",
        dropped,
        "requests",
        reflections,
        "regsync_requests_dropped_total",
      ),
    ];
  } finally {
    await nc.close();
    await node.stop();
    await server.stop();
  }
}

const scenario: Scenario = {
  name: "limits",
  description: "paged lookups of a large service, quotas and dropped reflections on one node",
  run,
};
export default scenario;
