/**
 * A bounded table of shared string copies. Strings that repeat across entries (service names,
 * node ids, instance versions) would otherwise each carry their own copy per entry, which costs
 * heap and lengthens every garbage collection. Bounded, so a hostile stream of distinct strings
 * cannot grow it without limit: past `limit` new strings pass through unshared.
 */
export function internTable(limit: number): (value: string) => string {
  const shared = new Map<string, string>();
  return (value) => {
    const copy = shared.get(value);
    if (copy !== undefined) return copy;
    if (shared.size < limit) shared.set(value, value);
    return value;
  };
}
