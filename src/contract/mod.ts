/**
 * The contract between regsync's client and its nodes (DESIGN.md §2): subjects, headers,
 * change-event types, error codes, id formats and request bodies. Both sides import it; it
 * imports nothing of either, so the client never loads the server.
 */
export * from "./errors.js";
export * from "./events.js";
export * from "./headers.js";
export * from "./ids.js";
export * from "./requests.js";
export * from "./subjects.js";
