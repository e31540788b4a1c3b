/**
 * Which reply subjects a node answers on. A NATS requester names the reply subject, and a node
 * with `allow_responses` may publish there whatever its own publish rights say; without this
 * check any client could make a node publish a reply on `registry.changes.api`, on
 * `registry.sync.announce` or on `$SRV.PING`. Replies go only to inboxes.
 */
export class ReplyGuard {
  constructor(private readonly prefixes: readonly string[]) {}

  /** Whether a request may be served: it names no reply subject (a fire-and-forget write such
   * as `nats pub registry.heartbeat …`: nothing is sent back), or an inbox. */
  accepts(reply: string | undefined): boolean {
    return reply === undefined || reply === "" || this.allows(reply);
  }

  /** Whether a reply may be sent to this subject: only under a configured inbox prefix. */
  allows(reply: string | undefined): reply is string {
    if (reply === undefined || reply === "") return false;
    for (const prefix of this.prefixes) {
      if (reply.length > prefix.length && reply.startsWith(prefix)) return !hasWildcard(reply);
    }
    return false;
  }
}

/** A reply subject with a wildcard is not an inbox (a server refuses to publish there anyway). */
function hasWildcard(subject: string): boolean {
  return subject.includes("*") || subject.includes(">");
}
