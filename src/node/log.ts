import { type Logger, pino } from "pino";
import { prettyFactory } from "pino-pretty";

const PRETTY_OPTIONS = { colorize: true, translateTime: "HH:MM:ss.l" };

/** Where log lines go instead of stdout: a terminal that keeps a progress bar below them. */
export interface LogSink {
  write(text: string): unknown;
}

/**
 * JSON logs for machines; pretty ones when a person watches a terminal. Pretty logs are
 * formatted off the main thread unless a `sink` takes them, which needs them in order with its
 * own output (the terminal progress bar of `regsync node`).
 */
export function createLogger(
  level: string,
  bindings: Record<string, string> = {},
  format: "auto" | "json" | "pretty" = "auto",
  sink?: LogSink,
): Logger {
  const pretty = format === "pretty" || (format === "auto" && process.stdout.isTTY === true);
  let logger: Logger;
  if (sink === undefined) {
    logger = pretty
      ? pino({ level, transport: { target: "pino-pretty", options: PRETTY_OPTIONS } })
      : pino({ level });
  } else {
    const prettify = pretty ? prettyFactory(PRETTY_OPTIONS) : undefined;
    logger = pino(
      { level },
      { write: (line: string) => sink.write(prettify === undefined ? line : prettify(line)) },
    );
  }
  return logger.child(bindings);
}
