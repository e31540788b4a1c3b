/** A count, seq or timestamp as the wire and the disk carry it: a safe integer, never negative.
 * One check for every decoder (sync messages and tuples, stored records, HLC timestamps). */
export function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
