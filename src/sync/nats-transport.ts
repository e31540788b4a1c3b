import { ErrorCode, type NatsConnection, RequestStrategy } from "nats";
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  type GatherOptions,
  type RequestOptions,
  type SyncTransport,
  type TransportMessage,
  type TransportSubscription,
} from "./transport.js";

/** The sync transport over a NATS connection: core publish, request-reply and subscriptions. */
export class NatsSyncTransport implements SyncTransport {
  constructor(private readonly nc: NatsConnection) {}

  publish(subject: string, data: Uint8Array): void {
    this.nc.publish(subject, data);
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Uint8Array> {
    const msg = await this.nc.request(subject, data, { timeout: options.timeoutMs });
    return msg.data;
  }

  async requestAll(
    subject: string,
    data: Uint8Array,
    options: GatherOptions,
  ): Promise<Uint8Array[]> {
    const replies: Uint8Array[] = [];
    try {
      const iterator = await this.nc.requestMany(subject, data, {
        strategy: RequestStrategy.JitterTimer,
        jitter: options.stallMs,
        maxWait: options.maxWaitMs,
      });
      for await (const msg of iterator) replies.push(msg.data);
    } catch (error) {
      if ((error as { code?: string }).code !== ErrorCode.NoResponders) throw error;
    }
    return replies;
  }

  subscribe(subject: string, handler: (msg: TransportMessage) => void): TransportSubscription {
    return this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        handler({
          data: msg.data,
          reply: msg.reply || undefined,
          respond: (bytes) => {
            msg.respond(bytes);
          },
        });
      },
    });
  }

  maxPayload(): number {
    return this.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD_BYTES;
  }

  isClosed(): boolean {
    return this.nc.isClosed();
  }
}
