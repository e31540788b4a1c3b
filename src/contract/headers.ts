/** Headers that let a watcher detect a missed notification: each publisher numbers its own. */
export const CHANGE_HEADERS = {
  node: "Regsync-Node",
  seq: "Regsync-Seq",
  epoch: "Regsync-Epoch",
} as const;
