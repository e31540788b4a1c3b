import { connect, createServer, type Server, type Socket } from "node:net";

const LOOPBACK = "127.0.0.1";

export interface TcpProxyOptions {
  /** Delay added to every chunk in both directions (order is kept). @default 0 */
  delayMs?: number;
}

/** One forwarded connection: what the proxy accepted and what it dialled for it. */
interface Link {
  client: Socket;
  upstream: Socket | undefined;
}

/**
 * A TCP proxy on a free port of 127.0.0.1, forwarding to 127.0.0.1:`targetPort`. Tests put it
 * in a link (a NATS route between two servers, a client connection) and break the link at will:
 *
 * - `cut()`: every connection is reset and new ones are reset on arrival, as when a host or
 *   link dies and the peer's kernel answers. Both ends notice at once.
 * - `blackhole()`: connections stay open but nothing moves, as when packets are silently
 *   dropped; ends notice only through their own timeouts (NATS: missed PINGs). `heal()` lets
 *   the held bytes through, as TCP retransmission would.
 * - `heal()` ends either; `close()` stops the proxy.
 */
export class TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  port = 0;
  /** Connections accepted since the start, including refused ones. */
  accepted = 0;
  delayMs: number;
  private state: "open" | "cut" | "blackhole" = "open";
  private readonly links = new Set<Link>();
  private readonly server: Server;

  private constructor(
    readonly targetPort: number,
    options: TcpProxyOptions,
  ) {
    this.delayMs = options.delayMs ?? 0;
    // No Nagle: a proxied route must not hold back small messages (40 ms each with delayed ACKs).
    this.server = createServer({ noDelay: true }, (client) => this.accept(client));
  }

  static async start(targetPort: number, options: TcpProxyOptions = {}): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort, options);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(0, LOOPBACK, resolve);
    });
    const address = proxy.server.address();
    if (address === null || typeof address === "string") throw new Error("proxy has no port");
    proxy.port = address.port;
    return proxy;
  }

  /** Live connections (accepted and not yet closed). */
  get connections(): number {
    return this.links.size;
  }

  get isCut(): boolean {
    return this.state === "cut";
  }

  get isBlackholed(): boolean {
    return this.state === "blackhole";
  }

  /** Resets every connection and every new one until `heal()`. */
  cut(): void {
    this.state = "cut";
    for (const link of this.links) this.reset(link);
  }

  /** Stops moving bytes, keeping connections open, until `heal()`. */
  blackhole(): void {
    this.state = "blackhole";
    for (const link of this.links) {
      link.client.pause();
      link.upstream?.pause();
    }
  }

  /** Accepts and forwards again; held connections resume where they stopped. */
  heal(): void {
    const wasBlackholed = this.state === "blackhole";
    this.state = "open";
    if (!wasBlackholed) return;
    for (const link of this.links) {
      if (link.upstream === undefined) this.dial(link);
      link.client.resume();
      link.upstream?.resume();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.state === "cut") {
      abort(client);
      return;
    }
    const link: Link = { client, upstream: undefined };
    this.links.add(link);
    client.on("error", () => this.reset(link));
    client.on("close", () => this.closed(link));
    if (this.state === "blackhole") client.pause();
    else this.dial(link);
  }

  private dial(link: Link): void {
    const upstream = connect({ host: LOOPBACK, port: this.targetPort, noDelay: true });
    link.upstream = upstream;
    upstream.on("error", () => this.reset(link));
    upstream.on("close", () => this.closed(link));
    this.pump(link.client, upstream);
    this.pump(upstream, link.client);
  }

  /** Copies `from` into `to`, with backpressure, after `delayMs` when set. */
  private pump(from: Socket, to: Socket): void {
    const later = (action: () => void) =>
      this.delayMs > 0 ? setTimeout(action, this.delayMs) : action();
    from.on("data", (chunk: Buffer) =>
      later(() => {
        if (to.destroyed || to.writableEnded || to.write(chunk)) return;
        from.pause();
        to.once("drain", () => {
          if (this.state === "open") from.resume();
        });
      }),
    );
    from.on("end", () => later(() => to.end()));
  }

  /** One side closed: the other finishes writing what it holds, then closes too. */
  private closed(link: Link): void {
    const { client, upstream } = link;
    if (client.destroyed && (upstream === undefined || upstream.destroyed)) {
      this.links.delete(link);
      return;
    }
    const finish = () => {
      if (!client.destroyed) client.end();
      if (upstream !== undefined && !upstream.destroyed) upstream.end();
    };
    if (this.delayMs > 0) setTimeout(finish, this.delayMs);
    else finish();
  }

  private reset(link: Link): void {
    if (!this.links.delete(link)) return;
    abort(link.client);
    if (link.upstream !== undefined) abort(link.upstream);
  }
}

/**
 * Resets a connection (RST), or just destroys it when it is no longer fully open: Node 20
 * spins forever at process exit after `resetAndDestroy()` on a half-closed socket.
 */
function abort(socket: Socket): void {
  if (socket.readyState === "open") socket.resetAndDestroy();
  else socket.destroy();
}
