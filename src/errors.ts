/** The error codes are part of the client contract: see src/contract/errors.ts. */
export * from "./contract/errors.js";
