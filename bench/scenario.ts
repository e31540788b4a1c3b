/** One measured figure of a benchmark scenario. */
export interface BenchRow {
  /** What was measured, e.g. "merges/s (N=1M)". */
  metric: string;
  /** The median over the scenario's repetitions, unless the metric says otherwise. */
  value: number;
  unit: string;
  /** The target from the issue, as text ("≥ 300000"), when there is one. */
  target?: string;
  /** Whether the value meets the target; absent when there is no target. */
  ok?: boolean;
  note?: string;
}

export interface BenchContext {
  /** Smaller sizes and fewer repetitions, for CI and quick checks. */
  quick: boolean;
  log: (message: string) => void;
}

export interface Scenario {
  name: string;
  description: string;
  run(context: BenchContext): Promise<BenchRow[]>;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** A figure as the table prints it: grouped digits from 100 up, two decimals below. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(2);
}

/** A row with a lower bound target. */
export function atLeast(
  metric: string,
  value: number,
  unit: string,
  min: number,
  note?: string,
): BenchRow {
  return { metric, value, unit, target: `>= ${formatValue(min)}`, ok: value >= min, note };
}

/** A row with an upper bound target. */
export function atMost(
  metric: string,
  value: number,
  unit: string,
  max: number,
  note?: string,
): BenchRow {
  return { metric, value, unit, target: `<= ${formatValue(max)}`, ok: value <= max, note };
}

/** A row whose target is one exact value. */
export function exactly(
  metric: string,
  value: number,
  unit: string,
  expected: number,
  note?: string,
): BenchRow {
  return {
    metric,
    value,
    unit,
    target: `= ${formatValue(expected)}`,
    ok: value === expected,
    note,
  };
}

/** `REGSYNC_BENCH_BASELINE_CLI`: another build's `dist/src/cli/main.js`, to measure beside this
 * build's in the same run. */
export function baselineCli(): string | undefined {
  return process.env.REGSYNC_BENCH_BASELINE_CLI || undefined;
}

/** This build (`cli` undefined) and, with a baseline, that build too. */
export function comparedBuilds(): { baseline: boolean; cli: string | undefined }[] {
  const cli = baselineCli();
  return [{ baseline: false, cli: undefined }, ...(cli ? [{ baseline: true, cli }] : [])];
}

/** `items` in the order repetition `rep` runs them: reversed every other time, so drift over a
 * run hits each alike and none always runs right after the same one. */
export function inTurn<T>(items: readonly T[], rep: number): readonly T[] {
  return rep % 2 === 0 ? items : [...items].reverse();
}
