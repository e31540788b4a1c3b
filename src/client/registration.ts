import type { InstanceInput, Status } from "../core/instance.js";
import { DEFAULT_TTL_MS } from "../core/instance.js";
import type { RegisteredInstance, RegistryClient } from "./client.js";
import { RegistryClientError } from "./errors.js";

export type RegistrationEvent = "renewed" | "reregistered" | "error";

/** Retries of a failed renewal never come faster than this, whatever the lease. */
const MIN_RETRY_MS = 100;

/**
 * A registered instance kept alive: heartbeats at a third of the lease, so two may be lost
 * before it lapses; a `not_found` (the lease lapsed, or a node without storage restarted) is
 * answered by registering again; transient failures are retried with backoff and jitter.
 */
export class Registration {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failures = 0;
  private status: Status | undefined;
  private readonly listeners = new Map<RegistrationEvent, Set<(detail: unknown) => void>>();

  constructor(
    private readonly client: RegistryClient,
    private readonly request: InstanceInput,
    /** The instance as the registry last confirmed it. */
    public instance: RegisteredInstance,
  ) {}

  get service(): string {
    return this.request.service;
  }

  get id(): string {
    return this.request.id;
  }

  on(event: RegistrationEvent, listener: (detail: unknown) => void): this {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return this;
  }

  startKeepAlive(): void {
    this.schedule(this.renewEveryMs());
  }

  /** Changes the instance's status with the next heartbeat, sent now. */
  async setStatus(status: Status): Promise<void> {
    this.status = status;
    await this.renew();
  }

  /** Stops renewing and deregisters the instance. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client.deregister(this.service, this.id);
  }

  private renewEveryMs(): number {
    return Math.max(MIN_RETRY_MS, Math.floor((this.request.ttlMs ?? DEFAULT_TTL_MS) / 3));
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.renew(), ms);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    clearTimeout(this.timer);
    if (this.closed) return;
    try {
      try {
        const { expiresAt } = await this.client.heartbeat(this.service, this.id, this.status);
        this.instance = { ...this.instance, expiresAt };
        this.emit("renewed", expiresAt);
      } catch (error) {
        if (!(error instanceof RegistryClientError) || error.code !== "not_found") throw error;
        const body =
          this.status === undefined ? this.request : { ...this.request, status: this.status };
        const reply = await this.client.call<{ instance: RegisteredInstance }>("register", body);
        this.instance = reply.instance;
        this.emit("reregistered", reply.instance);
      }
      this.failures = 0;
      this.schedule(this.renewEveryMs());
    } catch (error) {
      this.failures++;
      this.emit("error", error);
      // Full jitter under a ceiling that stays inside the lease, so a retry can still save it.
      const ceiling = Math.min(this.renewEveryMs(), MIN_RETRY_MS * 2 ** this.failures);
      this.schedule(Math.max(MIN_RETRY_MS, Math.floor(Math.random() * ceiling)));
    }
  }

  private emit(event: RegistrationEvent, detail: unknown): void {
    for (const listener of this.listeners.get(event) ?? []) listener(detail);
  }
}
