// `node bench/baseline/read-your-writes.mjs TREE [N]`: 3 in-process memory nodes of the build
// in the checkout TREE and, through that build's client, N register → deregister and N
// register → heartbeat → lookup sequences: acked deregisters without effect, own writes not seen.
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const TREE = process.argv[2];
const N = Number(process.argv[3] ?? 500);
const { connect } = await import("nats");
const { RegistryClient } = await import(join(TREE, "dist/src/client/client.js"));
const { startNatsServer } = await import(join(TREE, "dist/src/dev/nats-server.js"));
const { parseNodeConfig } = await import(join(TREE, "dist/src/config/load.js"));
const { RegistryNode } = await import(join(TREE, "dist/src/node/registry-node.js"));
const { createSyncCodec } = await import(join(TREE, "dist/src/sync/envelope-codec.js"));
const server = await startNatsServer();
const nodes = [];
for (const id of ["w1", "w2", "w3"]) {
  const config = parseNodeConfig({
    nats: [server.url],
    id,
    memory: true,
    httpListen: "",
    logLevel: "silent",
  });
  const node = new RegistryNode({ config, codec: createSyncCodec(config) });
  await node.start();
  nodes.push(node);
}
const nc = await connect({ servers: server.url });
const client = new RegistryClient(nc);
let notSeen = 0;
for (let i = 0; i < N; i++) {
  await client.register(
    { service: "dereg", id: `d${i}`, host: "h", port: 1 },
    { keepAlive: false },
  );
  await client.deregister("dereg", `d${i}`);
  await client.register({ service: "own", id: `o${i}`, host: "h", port: 1 }, { keepAlive: false });
  try {
    await client.heartbeat("own", `o${i}`);
  } catch {
    notSeen++;
  }
  if (!(await client.lookup("own")).some((x) => x.id === `o${i}`)) notSeen++;
}
await sleep(500);
let noEffect = 0;
for (let i = 0; i < N; i++)
  if (
    nodes.some((n) =>
      n.store.lookup({ service: "dereg" }, Date.now()).some((e) => e.id === `d${i}`),
    )
  )
    noEffect++;
console.log(
  JSON.stringify({
    tree: TREE,
    sequences: N,
    ackedDeregistersWithoutEffect: noEffect,
    ownWritesNotSeen: notSeen,
  }),
);
await nc.close();
await Promise.allSettled(nodes.map((n) => n.stop()));
await server.stop();
