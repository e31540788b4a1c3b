/** Anything that takes cleanup functions: a TestContext (`t.after`) or a `Teardown`. */
export interface CleanupScope {
  after(fn: () => unknown): void;
}

/**
 * Cleanup in reverse order of set-up, every step run even if one fails: `t.after` runs hooks in
 * the order they were added and stops at the first that throws, which would stop the servers
 * before the nodes on them and leave the rest running. Create one per test.
 */
export class Teardown implements CleanupScope {
  private readonly steps: (() => unknown)[] = [];

  constructor(t: CleanupScope) {
    t.after(() => this.run());
  }

  after(fn: () => unknown): void {
    this.steps.push(fn);
  }

  private async run(): Promise<void> {
    while (this.steps.length > 0) {
      try {
        await this.steps.pop()!();
      } catch {
        // the next step still runs: a failed cleanup must not leave servers behind
      }
    }
  }
}
