/** A node id: 1-64 characters of [A-Za-z0-9_-]; it names the node's sync subjects. */
export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
