import { randomBytes } from "node:crypto";
import { headers, type NatsConnection } from "nats";
import { CHANGE_HEADERS } from "../contract/headers.js";
import { type ChangeEvent, renderInstance } from "../core/mod.js";
import { changesSubject } from "../subjects.js";
import { utf8 } from "../wire/utf8.js";

export { CHANGE_HEADERS };

/**
 * Publishes change notifications on `<prefix>.changes.<service>` (DESIGN.md §2). Best-effort
 * NATS messages; the per-service sequence in the headers tells a watcher of that service when
 * it missed one, and writes to other services never look like a gap.
 */
export class ChangePublisher {
  /** Last number given per service; one small entry per service this node ever wrote to. */
  private readonly seqs = new Map<string, number>();
  /** This process's feed epoch: a restart starts numbering again under a new one. */
  readonly epoch = randomBytes(8).toString("hex");
  /** One set of headers, its seq replaced per event: nats.js encodes them as it publishes. */
  private readonly headers = headers();

  constructor(
    private readonly nc: NatsConnection,
    private readonly prefix: string,
    private readonly nodeId: string,
    private readonly onPublished: (type: ChangeEvent["type"]) => void = () => {},
  ) {
    this.headers.set(CHANGE_HEADERS.node, nodeId);
    this.headers.set(CHANGE_HEADERS.epoch, this.epoch);
  }

  /** `instanceJson`: the entry as already rendered for the client's reply, if it was. */
  publish(event: ChangeEvent, instanceJson?: string): void {
    if (this.nc.isClosed()) return;
    const { entry } = event;
    const instance =
      event.type === "deregistered" ? "null" : (instanceJson ?? renderInstance(entry));
    const json = `{"type":"${event.type}","service":${JSON.stringify(entry.service)},"id":${JSON.stringify(entry.id)},"instance":${instance},"node":${JSON.stringify(this.nodeId)},"version":${entry.hlc}}`;
    const seq = (this.seqs.get(entry.service) ?? 0) + 1;
    this.seqs.set(entry.service, seq);
    this.headers.set(CHANGE_HEADERS.seq, String(seq));
    this.nc.publish(changesSubject(this.prefix, entry.service), utf8(json), {
      headers: this.headers,
    });
    this.onPublished(event.type);
  }
}
