import { type CausalMark, CausalTokenError, parseToken } from "../core/mod.js";
import { RegistryError } from "../errors.js";

/** How long a node behind a client's token waits for replication before it forwards. On one
 * NATS cluster a write reaches every node in about a millisecond. */
export const CAUSAL_WAIT_MS = 25;
const CAUSAL_POLL_MS = 1;

/** What this replica holds of each writer's log. */
export interface CausalView {
  nodeId: string;
  epoch(): string;
  /** What we hold of `node`'s own writes, if we follow its history: up to `heldThrough` of
   * `epoch`, merged here (durable or not). */
  peer(node: string): { readonly epoch: string; readonly heldThrough: number } | undefined;
}

/**
 * Read-your-writes for a client that passes back the token of its writes: whether this
 * replica holds them, waiting briefly for replication when it does not yet.
 */
export class CausalWait {
  constructor(
    private readonly view: CausalView,
    private readonly waitMs = CAUSAL_WAIT_MS,
  ) {}

  /** Parses a client's token; a malformed one is the client's error. */
  static parse(token: unknown): CausalMark[] {
    if (typeof token !== "string")
      throw new RegistryError("invalid_request", "token must be the string a write returned");
    try {
      return parseToken(token);
    } catch (error) {
      if (error instanceof CausalTokenError)
        throw new RegistryError("invalid_request", `invalid token: ${error.message}`);
      throw error;
    }
  }

  /** The first mark this replica does not hold yet, or undefined when it holds them all. */
  missing(marks: readonly CausalMark[]): CausalMark | undefined {
    return marks.find((mark) => !this.holds(mark));
  }

  /** Waits up to the bound for every mark; resolves with the first still missing, if any. */
  async settle(marks: readonly CausalMark[]): Promise<CausalMark | undefined> {
    const deadline = Date.now() + this.waitMs;
    let missing = this.missing(marks);
    while (missing !== undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, CAUSAL_POLL_MS));
      missing = this.missing(marks);
    }
    return missing;
  }

  private holds(mark: CausalMark): boolean {
    // Our own writes are here by definition; a mark of our own previous history (a memory
    // node restarted) names writes that are gone or came back through peers: nothing to await.
    if (mark.node === this.view.nodeId) return true;
    const peer = this.view.peer(mark.node);
    return peer !== undefined && peer.epoch === mark.epoch && peer.heldThrough >= mark.seq;
  }
}
