/** The subjects are part of the client contract: see src/contract/subjects.ts. */
export * from "./contract/subjects.js";
