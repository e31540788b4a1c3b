import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

/**
 * Everything the launcher must clean up if its owner never does: child processes still running
 * and temporary directories. A test that fails before its `finally`, or a process that exits on
 * an uncaught error, still leaves no nats-server behind.
 */
const children = new Set<ChildProcess>();
const directories = new Set<string>();
let hooksInstalled = false;

/** Signals after which the process would die without running `exit` listeners. */
const FATAL_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export function trackChild(child: ChildProcess): void {
  installHooks();
  children.add(child);
  child.once("exit", () => children.delete(child));
}

export function trackDirectory(dir: string): void {
  installHooks();
  directories.add(dir);
}

export function forgetDirectory(dir: string): void {
  directories.delete(dir);
}

/** Kills every tracked child at once and removes every tracked directory; synchronous. */
export function cleanUpLeftovers(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  directories.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once("exit", cleanUpLeftovers);
  for (const signal of FATAL_SIGNALS) {
    const onSignal = () => {
      // Someone else handles this signal (`regsync dev` drains on SIGINT and stops its server
      // itself): stay out of the way. Otherwise clean up and die the way the signal would.
      if (process.listenerCount(signal) > 1) return;
      cleanUpLeftovers();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
