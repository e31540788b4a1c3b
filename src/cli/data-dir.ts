import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * Creates a node's data directory, one level at a time, and checks that it is a writable
 * directory; returns the problem in words, or undefined. Node's recursive mkdirSync never
 * returns for some paths (`/proc/nope` spins at 100% CPU), so it is not used here.
 */
export function prepareDataDir(dir: string): string | undefined {
  const path = resolve(dir);
  const missing: string[] = [];
  let probe = path;
  for (;;) {
    try {
      statSync(probe);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        return `cannot use data directory ${dir}: ${(error as Error).message}`;
      }
      missing.unshift(probe);
      const parent = dirname(probe);
      if (parent === probe) break;
      probe = parent;
    }
  }
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") continue;
      return `cannot create data directory ${dir}: ${(error as Error).message}`;
    }
  }
  try {
    if (!statSync(path).isDirectory()) return `data directory ${dir} is not a directory`;
    accessSync(path, constants.W_OK | constants.X_OK);
  } catch (error) {
    return `cannot use data directory ${dir}: ${(error as Error).message}`;
  }
  return undefined;
}
