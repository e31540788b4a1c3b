export {
  type ClientOptions,
  type LookupOptions,
  type LookupWithRegions,
  type RegionFreshness,
  type RegisteredInstance,
  RegistryClient,
  type ServiceSummary,
  type SnapshotEntry,
} from "./client.js";
export { RegistryClientError } from "./errors.js";
export { Registration, type RegistrationEvent } from "./registration.js";
export type { ChangeCallback, Watch, WatchEvent, WatchEventType, WatchOptions } from "./watch.js";
