import type { RegisteredInstance, SnapshotReply } from "./client.js";

export type WatchEventType = "registered" | "updated" | "deregistered" | "expired";

export interface WatchEvent {
  type: WatchEventType;
  service: string;
  id: string;
  instance: RegisteredInstance | null;
  /** Version of the entry (a hybrid logical clock timestamp): newer is greater. */
  version: number;
  /** True for events the watch derived from a snapshot rather than received. */
  synthetic: boolean;
}

interface Held {
  version: number;
  instance: RegisteredInstance;
}

/** How many deletions the view remembers, so a late copy cannot bring an instance back. */
const DELETIONS_REMEMBERED = 65_536;

/**
 * A watch's view of one service, kept by version: notifications and snapshot replies both merge
 * into it, in whatever order they arrive, and it emits only what moves an instance forward. So a
 * snapshot that was in flight while notifications arrived never undoes them, and no instance is
 * ever reported at a version older than one already reported. Pure.
 */
export class WatchView {
  private readonly held = new Map<string, Held>();
  /** Ids deleted and the version of their deletion (oldest first, bounded). */
  private readonly deleted = new Map<string, number>();

  constructor(readonly service: string) {}

  instances(): RegisteredInstance[] {
    return [...this.held.values()].map((h) => h.instance);
  }

  get size(): number {
    return this.held.size;
  }

  /** A notification (or a snapshot's instance); the event to emit, if any. */
  apply(event: Omit<WatchEvent, "synthetic">, synthetic = false): WatchEvent | undefined {
    const held = this.held.get(event.id);
    if (event.type === "registered" || event.type === "updated") {
      if (
        held !== undefined
          ? event.version <= held.version
          : event.version <= (this.deleted.get(event.id) ?? -1)
      )
        return undefined;
      if (event.instance === null) return undefined;
      this.held.set(event.id, { version: event.version, instance: event.instance });
      this.deleted.delete(event.id);
      const type = synthetic ? (held === undefined ? "registered" : "updated") : event.type;
      return { ...event, type, synthetic };
    }
    if (held === undefined || event.version < held.version) return undefined;
    this.held.delete(event.id);
    this.remember(event.id, event.version);
    return { ...event, instance: null, synthetic };
  }

  /** Merges a snapshot reply; returns the synthetic events it implies. */
  merge(reply: Pick<SnapshotReply, "full" | "asOf" | "entries" | "removed">): WatchEvent[] {
    const out: WatchEvent[] = [];
    const push = (event: WatchEvent | undefined) => {
      if (event !== undefined) out.push(event);
    };
    for (const e of reply.entries) {
      push(
        this.apply(
          {
            type: "updated",
            service: this.service,
            id: e.id,
            instance: e.instance,
            version: e.version,
          },
          true,
        ),
      );
    }
    for (const r of reply.removed ?? []) {
      push(this.remove(r.id, r.version));
    }
    if (reply.full) {
      // Absent from the whole service: gone, unless the view holds a version the answering node
      // had not yet received when it answered.
      const present = new Set(reply.entries.map((e) => e.id));
      for (const [id, held] of [...this.held]) {
        if (!present.has(id) && held.version <= reply.asOf) push(this.remove(id, reply.asOf));
      }
    }
    return out;
  }

  private remove(id: string, version: number): WatchEvent | undefined {
    return this.apply(
      { type: "deregistered", service: this.service, id, instance: null, version },
      true,
    );
  }

  private remember(id: string, version: number): void {
    this.deleted.delete(id);
    if (this.deleted.size >= DELETIONS_REMEMBERED) {
      const oldest = this.deleted.keys().next().value;
      if (oldest !== undefined) this.deleted.delete(oldest);
    }
    this.deleted.set(id, version);
  }
}
