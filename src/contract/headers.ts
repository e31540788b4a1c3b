/**
 * Headers that let a watcher detect a missed notification: each publishing node numbers its
 * notifications per service (`Regsync-Seq`: 1, 2, 3… on each `changes.<service>` subject) within
 * a feed epoch (`Regsync-Epoch`) drawn afresh each time the node starts, since the numbering
 * lives in memory and starts again at 1 then.
 */
export const CHANGE_HEADERS = {
  node: "Regsync-Node",
  seq: "Regsync-Seq",
  epoch: "Regsync-Epoch",
} as const;
