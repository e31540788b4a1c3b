import assert from "node:assert/strict";
import { test } from "node:test";
import {
  categoryOf,
  JS_AND_RUNTIME,
  parsePerfScript,
  summarisePerf,
} from "../../bench/perf-summary.js";

/** Four samples as `perf script` prints them: a helper thread scavenging; the main thread
 * zeroing a page for a string concatenation in JavaScript; the main thread in JavaScript whose
 * caller sits under a GC-named frame further out (not counted as GC); a helper thread's O_DSYNC
 * write. */
const SCRIPT = `node  9267  1195.323278:    1001001 cpu-clock:pppH: 
\t          d91a48 v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot>+0x18 (/usr/bin/node)
\t          d9b1d9 v8::internal::Scavenger::ScavengePage+0xe29 (/usr/bin/node)

node  9262  1195.324279:    1001001 cpu-clock:pppH: 
\tffffffff8f1a2b30 clear_page_erms+0x10 ([kernel.kallsyms])
\tffffffff8f0e1d2c do_anonymous_page+0x8c ([kernel.kallsyms])
\t          1c2d3e Builtins_StringAdd_CheckNone+0x43 (/usr/bin/node)
\t    7f6cb01643c6 JS:*serve file:///x/dist/src/node/service.js:84:21+0x246 (/tmp/perf-9262.map)

node  9262  1195.325280:    1001001 cpu-clock:pppH: 
\t    7f6cb01643c6 JS:*insert file:///x/dist/src/core/store.js:412:11+0x12 (/tmp/perf-9262.map)
\t          d91a48 v8::internal::Heap::CollectGarbage+0x18 (/usr/bin/node)

node  9301  1195.326281:    1001001 cpu-clock:pppH: 
\tffffffff8f2b3c40 ext4_sync_file+0x20 ([kernel.kallsyms])
\tffffffff8f2b3c40 __x64_sys_pwrite64+0x20 ([kernel.kallsyms])
\t          7f01 __libc_pwrite+0x20 (/usr/lib/x86_64-linux-gnu/libc.so.6)
`;

test("perf summary: samples are read with their thread and frames", () => {
  const samples = parsePerfScript(SCRIPT);
  assert.deepEqual(
    samples.map((s) => [s.tid, s.frames.length]),
    [
      [9267, 2],
      [9262, 4],
      [9262, 2],
      [9301, 3],
    ],
  );
  assert.equal(
    samples[0]!.frames[1],
    "v8::internal::Scavenger::ScavengePage+0xe29 (/usr/bin/node)",
  );
});

test("perf summary: a sample is filed by its native frames up to the first JavaScript frame", () => {
  const [scavenge, zeroing, javascript, disk] = parsePerfScript(SCRIPT);
  assert.equal(categoryOf(scavenge!), "GC");
  assert.equal(categoryOf(zeroing!), "page zeroing (kernel, first touch)");
  assert.equal(categoryOf(javascript!), JS_AND_RUNTIME, "frames beyond the JS frame do not count");
  assert.equal(categoryOf(disk!), "disk (kernel)");
});

test("perf summary: main threads are told from the others", () => {
  const { counts, total } = summarisePerf(parsePerfScript(SCRIPT), new Set([9262]));
  assert.equal(total, 4);
  assert.deepEqual(Object.fromEntries(counts), {
    "other\tGC": 1,
    "main\tpage zeroing (kernel, first touch)": 1,
    [`main\t${JS_AND_RUNTIME}`]: 1,
    "other\tdisk (kernel)": 1,
  });
});
