import { NamedError } from "./named-error.js";

/**
 * Causal tokens: read-your-writes for one client (DESIGN.md §2). A write's reply names the
 * accepting node, its history (epoch) and its change seq after the write; a client passes the
 * token back and a node that does not yet hold that much of the writer's log waits for it.
 * Clients treat the text as opaque; it is `node:epoch:seq` items joined by commas, one per
 * node a client wrote through, so writes through several nodes are all awaited.
 */
export interface CausalMark {
  node: string;
  epoch: string;
  seq: number;
}

/** Bounds what a node reads from a client before allocating: a client talks to few nodes. */
export const MAX_TOKEN_MARKS = 16;
const MARK = /^([A-Za-z0-9_-]{1,64}):([A-Za-z0-9_-]{1,64}):(\d{1,15})$/;

/** A token that is not one this registry issued. */
export class CausalTokenError extends NamedError {}

export function formatToken(marks: readonly CausalMark[]): string {
  return marks.map((m) => `${m.node}:${m.epoch}:${m.seq}`).join(",");
}

export function parseToken(text: string): CausalMark[] {
  const parts = text.split(",");
  if (text.length === 0 || parts.length > MAX_TOKEN_MARKS)
    throw new CausalTokenError(`a token holds 1 to ${MAX_TOKEN_MARKS} marks`);
  return parts.map((part) => {
    const match = MARK.exec(part);
    if (match === null) throw new CausalTokenError(`not a causal token: "${part.slice(0, 80)}"`);
    return { node: match[1]!, epoch: match[2]!, seq: Number(match[3]) };
  });
}

/**
 * The token that covers both: per node the newer mark (a new epoch replaces the old one, the
 * node's earlier history is gone), keeping the most recently written nodes within the bound.
 */
export function mergeTokens(held: string | undefined, received: string): string {
  const marks = new Map<string, CausalMark>();
  for (const mark of held === undefined ? [] : parseToken(held)) marks.set(mark.node, mark);
  for (const mark of parseToken(received)) {
    const old = marks.get(mark.node);
    marks.delete(mark.node);
    marks.set(
      mark.node,
      old !== undefined && old.epoch === mark.epoch && old.seq > mark.seq ? old : mark,
    );
  }
  return formatToken([...marks.values()].slice(-MAX_TOKEN_MARKS));
}
