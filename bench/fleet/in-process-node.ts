import { parseNodeConfig } from "../../src/config/load.js";
import type { NodeConfigInput } from "../../src/config/schema.js";
import { RegistryNode } from "../../src/node/registry-node.js";
import { createSyncCodec } from "../../src/sync/envelope-codec.js";

/**
 * A started registry node in the bench's own process: memory, no HTTP, silent, connected to
 * `url`, with `settings` on top. For scenarios that look into a node's store or metrics;
 * those that measure a node's own CPU start `regsync node` processes instead.
 */
export async function startInProcessNode(
  url: string,
  id: string,
  settings: Partial<NodeConfigInput> = {},
): Promise<RegistryNode> {
  const config = parseNodeConfig({
    nats: [url],
    id,
    memory: true,
    httpListen: "",
    logLevel: "silent",
    ...settings,
  });
  const node = new RegistryNode({ config, codec: createSyncCodec(config) });
  await node.start();
  return node;
}
