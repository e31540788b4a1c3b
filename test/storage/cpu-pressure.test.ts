import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CpuPressure, readOwnSchedStat } from "../../src/storage/cpu-pressure.js";

/** Counters the test moves by hand, read as the kernel's would be. */
function fakeThread() {
  const state = { runNs: 0, waitNs: 0, nowMs: 0, readable: true };
  const pressure = new CpuPressure(
    () => (state.readable ? [state.runNs, state.waitNs] : undefined),
    () => state.nowMs,
  );
  return { state, pressure };
}

describe("CPU pressure", () => {
  test("pressed once the thread waited for a CPU longer than it ran over a window", () => {
    const { state, pressure } = fakeThread();
    state.nowMs = 600;
    state.runNs = 300e6;
    state.waitNs = 60e6; // a core to spare: it waited a fifth as long as it ran
    assert.equal(pressure.underPressure(), false);
    state.nowMs = 1_200;
    state.runNs += 200e6;
    state.waitNs += 350e6;
    assert.equal(pressure.underPressure(), true);
    // Within a window the last answer holds: the counters are not read again.
    state.runNs += 1e9;
    state.nowMs = 1_300;
    assert.equal(pressure.underPressure(), true);
    state.nowMs = 1_800;
    assert.equal(pressure.underPressure(), false, "the next window ran more than it waited");
  });

  test("never pressed where there is no schedstat, nor when it stops being readable", () => {
    const absent = new CpuPressure(
      () => undefined,
      () => 0,
    );
    assert.equal(absent.underPressure(), false);
    const { state, pressure } = fakeThread();
    state.nowMs = 600;
    state.waitNs = 1e9;
    state.runNs = 1e6;
    assert.equal(pressure.underPressure(), true);
    state.readable = false;
    state.nowMs = 1_200;
    assert.equal(pressure.underPressure(), false);
  });

  test("this thread's counters, on Linux", { skip: process.platform !== "linux" }, () => {
    const stat = readOwnSchedStat();
    assert.ok(stat !== undefined, "/proc/thread-self/schedstat is readable");
    assert.ok(stat[0] > 0 && stat[1] >= 0);
  });
});
