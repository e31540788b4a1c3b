/**
 * A node's lifecycle, as `/readyz`, `regsync status` and the micro service's metadata show it.
 * Only a `ready` node is in the client queue group; a `stopping` one has left it and answers
 * what it already took.
 */
export const NODE_STATES = [
  "starting",
  "bootstrapping",
  "catching-up",
  "ready",
  "stopping",
] as const;
export type NodeState = (typeof NODE_STATES)[number];
