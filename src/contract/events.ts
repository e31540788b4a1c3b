/** The change events a watcher receives (DESIGN.md §2); defined with the store that emits them. */
export { CHANGE_TYPES, type ChangeType } from "../core/store.js";
