export * from "./client/mod.js";
export { loadNodeConfig, parseNodeConfig } from "./config/load.js";
export type { NodeConfig, NodeConfigInput } from "./config/schema.js";
export * as core from "./core/mod.js";
export { ERROR_CODES, type ErrorCode, RegistryError } from "./errors.js";
export { RegistryNode, type RegistryNodeOptions } from "./node/registry-node.js";
export { createSyncCodec } from "./sync/envelope-codec.js";
