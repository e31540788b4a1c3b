import { type Entry, type Instance, instanceBody, type RegistryStore } from "../core/mod.js";
import { RegistryError } from "../errors.js";
import { RegistrationRate } from "./registration-rate.js";

/**
 * Largest instance accepted, as the client API renders it. Bounds every reply that carries
 * instances: a page of them always fits in a NATS message, whatever one client registered.
 */
export const MAX_INSTANCE_BYTES = 8 * 1024;
/** What the rendered reply adds to the stored body: key, status, lease times, node id. */
const RENDER_OVERHEAD_BYTES = 400;
/**
 * How much longer a stored body can be than the request it came from: defaults filled in
 * (weight, ttlMs) and numbers written in full (`1e3` → `1000`). Strings never grow: the body
 * escapes exactly what JSON requires, which the request had to escape too.
 */
const BODY_GROWTH_BYTES = 64;

export interface QuotaSettings {
  maxInstancesPerService: number;
  maxServices: number;
  maxRegistrationsPerSecondPerService: number;
}

/**
 * Decides whether a registration may be written: its size, then the quotas of docs/security.md.
 * Throws `payload_too_large` or `quota_exceeded`, before anything is written. A registration
 * that replaces a live instance adds neither an instance nor a service, so it passes the count
 * quotas (a service at its limit keeps renewing and updating what it has).
 */
export class WriteAdmission {
  private readonly rate: RegistrationRate;

  constructor(
    private readonly quotas: QuotaSettings,
    private readonly store: RegistryStore,
    private readonly now: () => number,
  ) {
    this.rate = new RegistrationRate(quotas.maxRegistrationsPerSecondPerService);
  }

  /** `requestBytes`, the size of the request the instance came from, lets the usual small
   * registration skip rendering its body just to measure it. */
  admit(instance: Instance, requestBytes = Number.POSITIVE_INFINITY): void {
    this.checkSize(instance, requestBytes);
    const now = this.now();
    const existing = this.store.get(instance.service, instance.id);
    if (!isLive(this.store, existing, now)) this.checkCounts(instance.service, now);
    this.takeRate(instance.service, now);
  }

  /**
   * A deregister of a key this replica holds no live instance for still writes a tombstone (a
   * registration of it may be on its way from a peer), so it costs what a registration costs:
   * a token of its service's rate. Deleting a live instance is free, so a service at its limit
   * can always shrink.
   */
  admitDeregister(service: string, id: string): void {
    const now = this.now();
    if (isLive(this.store, this.store.get(service, id), now)) return;
    this.takeRate(service, now);
  }

  private takeRate(service: string, now: number): void {
    if (this.rate.take(service, now)) return;
    throw new RegistryError(
      "quota_exceeded",
      `service ${service} is over its ${this.quotas.maxRegistrationsPerSecondPerService} registrations per second on this node (deregisters of instances it does not hold count too); retry later`,
    );
  }

  private checkSize(instance: Instance, requestBytes: number): void {
    if (requestBytes + BODY_GROWTH_BYTES + RENDER_OVERHEAD_BYTES <= MAX_INSTANCE_BYTES) return;
    const size = Buffer.byteLength(instanceBody(instance)) + RENDER_OVERHEAD_BYTES;
    if (size > MAX_INSTANCE_BYTES) {
      throw new RegistryError(
        "payload_too_large",
        `instance ${instance.service}/${instance.id} renders to about ${size} bytes; the limit is ${MAX_INSTANCE_BYTES}`,
      );
    }
  }

  private checkCounts(service: string, now: number): void {
    const { maxInstancesPerService: perService, maxServices } = this.quotas;
    if (
      perService > 0 &&
      this.store.heldInstanceCount(service) >= perService &&
      this.store.liveInstanceCount(service, now, perService) >= perService
    ) {
      throw new RegistryError(
        "quota_exceeded",
        `service ${service} has ${perService} live instances, the most the registry allows`,
      );
    }
    if (
      maxServices > 0 &&
      this.store.heldServiceCount >= maxServices &&
      this.store.liveInstanceCount(service, now, 1) === 0 &&
      this.store.liveServiceCount(now, maxServices) >= maxServices
    ) {
      throw new RegistryError(
        "quota_exceeded",
        `the registry holds ${maxServices} services, the most it allows; ${service} is not one of them`,
      );
    }
  }
}

function isLive(store: RegistryStore, entry: Entry | undefined, now: number): boolean {
  return entry !== undefined && store.isLive(entry, now);
}
