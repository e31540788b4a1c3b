/** What TerminalStatus needs of a stream: process.stdout and process.stderr on a TTY. */
export interface TerminalStream {
  write(text: string): unknown;
  readonly columns?: number;
}

const ERASE_LINE = "\r\x1b[2K";
const CURSOR_UP = "\x1b[1A";

/**
 * A few status lines (progress bars) kept at the bottom of a terminal, redrawn in place, with
 * other text (log lines) written above them: `write()` erases the status lines, writes the
 * text, and draws them again below it, so the two never tangle.
 */
export class TerminalStatus {
  private lines: readonly string[] = [];

  constructor(private readonly out: TerminalStream) {}

  /** Width to fit lines to; 80 when the stream does not say. */
  get columns(): number {
    return this.out.columns && this.out.columns > 0 ? this.out.columns : 80;
  }

  /** Replaces the status lines. */
  show(lines: readonly string[]): void {
    this.out.write(this.erase() + this.draw(lines));
    this.lines = lines;
  }

  /** Writes `text` (whole lines) above the status lines. */
  write(text: string): void {
    this.out.write(this.erase() + text + this.draw(this.lines));
  }

  /** Leaves the status lines as they are, as ordinary text: what follows goes below them. */
  commit(): void {
    if (this.lines.length > 0) this.out.write("\n");
    this.lines = [];
  }

  /** Removes the status lines, leaving the cursor where they began. */
  clear(): void {
    this.out.write(this.erase());
    this.lines = [];
  }

  private erase(): string {
    if (this.lines.length === 0) return "";
    return ERASE_LINE + (CURSOR_UP + ERASE_LINE).repeat(this.lines.length - 1);
  }

  /** The lines, the cursor left at the end of the last (no newline, so nothing scrolls). */
  private draw(lines: readonly string[]): string {
    return lines.join("\n");
  }
}
