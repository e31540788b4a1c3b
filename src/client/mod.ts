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
