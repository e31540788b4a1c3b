/** Plain-text tables and durations for the CLI. */
export function table(headers: string[], rows: string[][]): string {
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
