/** Plain-text tables and durations for the CLI. */

/** Control characters (C0, DEL, C1) and the Unicode format characters that reorder or hide
 * text (bidi embeddings, overrides and isolates, zero-width marks). Printed raw, registered
 * text could move the cursor, clear the screen or make one row read as another. */
const UNSAFE = /[\p{Cc}\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2028\u2029\u2066-\u2069\ufeff]/gu;

/** Text as a terminal may show it: every unsafe character as a visible `\u{…}` escape. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** A table whose cells come from the registry (text any client registered) is escaped. */
export function table(headers: string[], unsafeRows: string[][]): string {
  const rows = unsafeRows.map((r) => r.map(terminalSafe));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function duration(ms: number): string {
  const abs = Math.abs(ms);
  const text =
    abs < 1_000
      ? `${Math.round(abs)} ms`
      : abs < 120_000
        ? `${(abs / 1000).toFixed(1)} s`
        : `${Math.round(abs / 60_000)} min`;
  return ms < 0 ? `${text} ago` : text;
}

export function clock(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(11, 19);
}
