import type { Msg } from "nats";
import { CHANGE_HEADERS } from "../contract/headers.js";
import { changesSubject } from "../contract/subjects.js";
import type { RegisteredInstance, RegistryClient } from "./client.js";

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

export type ChangeCallback = (event: WatchEvent) => void;

export interface WatchOptions {
  /** Compare with a fresh snapshot this often, whatever happened. @default 30000 */
  resyncIntervalMs?: number;
  /** Called when a resynchronisation fails (it is retried at the next trigger). */
  onError?: (error: unknown) => void;
}

export interface Watch {
  /** The watcher's current view of the service's live instances. */
  instances(): RegisteredInstance[];
  /** Resynchronisations so far (gaps, reconnects, the periodic one). */
  readonly resyncs: number;
  stop(): void;
}

interface Held {
  version: number;
  instance: RegisteredInstance;
}

const decoder = new TextDecoder();

/**
 * The reliable watch (docs/watch.md): subscribe first, then take a snapshot, then apply only
 * notifications newer than what is held. Each publishing node numbers its notifications, so a
 * skipped number is a lost message: the watch then takes a fresh snapshot and emits the
 * differences, and it does the same after a reconnect and periodically.
 */
export async function watchService(
  client: RegistryClient,
  service: string,
  callback: ChangeCallback,
  options: WatchOptions = {},
): Promise<Watch> {
  let view = new Map<string, Held>();
  const lastSeq = new Map<string, { epoch: string; seq: number }>();
  let buffered: Msg[] | undefined = [];
  let stopped = false;
  let resyncing: Promise<void> | undefined;
  let resyncs = 0;

  const apply = (event: Omit<WatchEvent, "synthetic">) => {
    const held = view.get(event.id);
    if (event.type === "registered" || event.type === "updated") {
      if (held !== undefined && event.version <= held.version) return;
      view.set(event.id, { version: event.version, instance: event.instance! });
    } else {
      if (held === undefined || event.version < held.version) return;
      view.delete(event.id);
    }
    callback({ ...event, synthetic: false });
  };

  const resync = (): Promise<void> => {
    resyncing ??= (async () => {
      try {
        const fresh = new Map<string, Held>();
        for (const e of await client.snapshot(service))
          fresh.set(e.id, { version: e.version, instance: e.instance });
        const before = view;
        view = fresh;
        resyncs++;
        for (const [id, now] of fresh) {
          const held = before.get(id);
          if (held === undefined || held.version !== now.version) {
            const type = held === undefined ? "registered" : "updated";
            callback({
              type,
              service,
              id,
              instance: now.instance,
              version: now.version,
              synthetic: true,
            });
          }
        }
        for (const [id, held] of before) {
          if (!fresh.has(id)) {
            callback({
              type: "deregistered",
              service,
              id,
              instance: null,
              version: held.version,
              synthetic: true,
            });
          }
        }
      } catch (error) {
        options.onError?.(error);
      } finally {
        resyncing = undefined;
      }
    })();
    return resyncing;
  };

  const handle = (msg: Msg) => {
    const node = msg.headers?.get(CHANGE_HEADERS.node) ?? "";
    const epoch = msg.headers?.get(CHANGE_HEADERS.epoch) ?? "";
    const seq = Number(msg.headers?.get(CHANGE_HEADERS.seq) ?? Number.NaN);
    const previous = lastSeq.get(node);
    if (Number.isSafeInteger(seq)) {
      if (previous !== undefined && previous.epoch === epoch && seq > previous.seq + 1)
        void resync();
      lastSeq.set(node, { epoch, seq });
    }
    let event: Omit<WatchEvent, "synthetic">;
    try {
      event = JSON.parse(decoder.decode(msg.data)) as Omit<WatchEvent, "synthetic">;
    } catch {
      return;
    }
    apply(event);
  };

  const subscription = client.nc.subscribe(changesSubject(client.prefix, service), {
    callback: (err, msg) => {
      if (err || stopped) return;
      if (buffered !== undefined) buffered.push(msg);
      else handle(msg);
    },
  });
  // The subscription must be in place at the server before the snapshot is taken, or a change
  // made in between would be in neither.
  await client.nc.flush();
  await resync();
  const pending = buffered;
  buffered = undefined;
  for (const msg of pending) handle(msg);

  const timer = setInterval(() => void resync(), options.resyncIntervalMs ?? 30_000);
  timer.unref();
  void (async () => {
    for await (const status of client.nc.status()) {
      if (stopped) return;
      if (status.type === "reconnect") void resync();
    }
  })();

  return {
    instances: () => [...view.values()].map((h) => h.instance),
    get resyncs() {
      return resyncs;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
      subscription.unsubscribe();
    },
  };
}
