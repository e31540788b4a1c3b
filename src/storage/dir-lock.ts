import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Directories locked by this process, which may also hold locks of several nodes (tests). */
const heldHere = new Set<string>();

export const LOCK_FILE = "regsync.lock";

/**
 * An exclusive lock on a data directory: a file created with O_EXCL that holds the owner's pid.
 * LMDB itself lets several processes share an environment, and two registry nodes writing one
 * replica would interleave two histories under one epoch. A lock left by a process that died
 * (its pid no longer runs, or is our own pid after a container restart) is taken over.
 */
export class DirLock {
  private constructor(private readonly file: string) {}

  /** Takes the lock or throws an Error naming the process that holds it. */
  static acquire(dir: string): DirLock {
    const file = join(dir, LOCK_FILE);
    if (heldHere.has(file)) throw new Error(`${dir} is already in use by this process`);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, "wx", 0o600);
        try {
          writeSync(fd, `${process.pid}\n`);
        } finally {
          closeSync(fd);
        }
        heldHere.add(file);
        return new DirLock(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const owner = ownerPid(file);
      if (owner !== undefined && owner !== process.pid && isRunning(owner)) {
        throw new Error(
          `${dir} is in use by another process (pid ${owner}, see ${LOCK_FILE}); one node per data directory`,
        );
      }
      rmSync(file, { force: true });
    }
    throw new Error(`${dir}: cannot take ${LOCK_FILE}: another process keeps taking it`);
  }

  release(): void {
    if (!heldHere.delete(this.file)) return;
    rmSync(this.file, { force: true });
  }
}

function ownerPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, "utf8"), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
