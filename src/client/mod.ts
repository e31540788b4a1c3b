export type { ErrorCode, ValidationIssue } from "../contract/errors.js";
export type { InstanceInput, Status } from "../core/instance.js";
export type { LookupQuery } from "../core/lookup.js";
export {
  type ClientOptions,
  type LookupOptions,
  type LookupWithRegions,
  type RegionFreshness,
  type RegisteredInstance,
  RegistryClient,
  type ServiceSummary,
  type SnapshotEntry,
  type SnapshotReply,
} from "./client.js";
export { RegistryClientError } from "./errors.js";
export { Registration, type RegistrationEvent } from "./registration.js";
export type {
  ChangeCallback,
  ResyncReason,
  Watch,
  WatchEvent,
  WatchEventType,
  WatchOptions,
  WatchStats,
} from "./watch.js";
