import type { TestContext } from "node:test";

/**
 * Cleanups that run newest first once the test is over (`t.after` runs hooks in the order they
 * were added): connections and nodes close before the server they use stops, since a node
 * whose server is gone would reconnect forever while it drains.
 */
export function cleanups(t: TestContext): (cleanup: () => unknown) => void {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    for (const cleanup of stack.reverse()) await cleanup();
  });
  return (cleanup) => stack.push(cleanup);
}
