import { type BootstrapProgress, fractionDone } from "../sync/bootstrap-progress.js";
import { duration } from "./format.js";

const FILLED = "█";
const EMPTY = "░";
/** The bar never gets narrower than this, nor wider than BAR_MAX. */
const BAR_MIN = 10;
const BAR_MAX = 40;

/**
 * One line for a bootstrap in progress, fitted to `columns`:
 * `n3 ← n1  ████████░░░░  62.5%  625,000/1,000,000  104,000/s  ETA 4 s`.
 */
export function renderBootstrapLine(
  node: string,
  progress: BootstrapProgress,
  columns: number,
): string {
  const share = fractionDone(progress);
  const percent = `${(share * 100).toFixed(1).padStart(5)}%`;
  const counts = `${count(progress.entries)}/${count(progress.total)}`;
  const rate = progress.perSecond > 0 ? `${count(progress.perSecond)}/s` : "";
  const eta =
    progress.state === "complete"
      ? `done in ${duration(progress.elapsedMs)}`
      : progress.state === "failed"
        ? "peer failed, reconciling"
        : progress.etaMs === undefined
          ? ""
          : `ETA ${duration(progress.etaMs)}`;
  const label = `${node} ← ${progress.peer}`;
  const tail = [percent, counts, rate, eta].filter(Boolean).join("  ");
  // Two gaps of two spaces, and the last column stays free (writing it wraps some terminals).
  const room = columns - label.length - tail.length - 5;
  if (room < BAR_MIN) return fit(`${label}  ${tail}`, columns);
  return fit(`${label}  ${bar(share, Math.min(BAR_MAX, room))}  ${tail}`, columns);
}

/** A bar `width` characters wide, `share` of it filled. */
export function bar(share: number, width: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, share)) * width);
  return FILLED.repeat(filled) + EMPTY.repeat(width - filled);
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

/** Cuts a line so it never wraps: a wrapped line would break redrawing in place. */
function fit(line: string, columns: number): string {
  return line.length < columns ? line : `${line.slice(0, Math.max(0, columns - 2))}…`;
}
