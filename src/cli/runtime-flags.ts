/**
 * The V8 flags a registry node runs with. The `regsync` executable passes them on its first
 * line (a shebang cannot import this module, so a test keeps the two in step), and whatever
 * spawns a node (`regsync dev`, the benchmarks) passes them from here.
 *
 * `--max-semi-space-size=128` (MiB): while a node bootstraps or merges a large batch, nearly
 * everything it allocates survives (entries, their ids and bodies). V8's default young
 * generation (16 MiB semi-spaces) then fills every few milliseconds, and each scavenge copies
 * the survivors again. With 128 MiB the new node of `npm run bench -- bootstrap` (1M entries)
 * ran 43 scavenges instead of 176 and spent 1.9-2.2 s in them instead of 2.7-3.2 s, for about
 * 170 MB more peak RSS. It is a ceiling, not a reservation: a node whose objects die young
 * never grows its young generation that far. Under steady client writes it costs a little
 * CPU and no rate: `npm run bench -- writes` with and without it, alternated, 7 runs each:
 * 1.00× the writes/s at 1 and 3 memory nodes, 1.09× and 1.03× the CPU per write
 * (docs/performance.md, eighth pass).
 */
export const NODE_RUNTIME_FLAGS: readonly string[] = ["--max-semi-space-size=128"];
