/** Node ids are part of the client contract (they name sync subjects): see src/core/node-id.ts. */
export { NODE_ID } from "../core/node-id.js";
