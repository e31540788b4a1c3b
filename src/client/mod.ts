export type { ErrorCode, ValidationIssue } from "../contract/errors.js";
export type { InstanceInput, Status } from "../core/instance.js";
export type { LookupQuery } from "../core/lookup.js";
export {
  type ClientOptions,
  type RegisteredInstance,
  RegistryClient,
  type ServiceSummary,
  type SnapshotEntry,
} from "./client.js";
export { RegistryClientError } from "./errors.js";
export { Registration, type RegistrationEvent } from "./registration.js";
export type { ChangeCallback, Watch, WatchEvent, WatchEventType, WatchOptions } from "./watch.js";
