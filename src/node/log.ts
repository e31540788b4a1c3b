import { createRequire } from "node:module";
import { type Logger, pino } from "pino";

/** Where log lines go instead of stdout: a terminal that keeps a progress bar below them. */
export interface LogSink {
  write(text: string): unknown;
}

const require = createRequire(import.meta.url);

/** pino-pretty is an optional dependency, loaded only when a person watches the logs; without
 * it a node logs JSON, as it does for machines. */
function prettyAvailable(): boolean {
  try {
    require.resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
}

function prettyOptions(): { colorize: boolean; translateTime: string } {
  // Colours only for a terminal: escape codes in a file or a pipe are noise.
  return { colorize: process.stdout.isTTY === true, translateTime: "HH:MM:ss.l" };
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
  const wanted = format === "pretty" || (format === "auto" && process.stdout.isTTY === true);
  const pretty = wanted && prettyAvailable();
  let logger: Logger;
  if (sink === undefined) {
    logger = pretty
      ? pino({ level, transport: { target: "pino-pretty", options: prettyOptions() } })
      : pino({ level });
  } else {
    const prettify = pretty
      ? (require("pino-pretty") as typeof import("pino-pretty")).prettyFactory(prettyOptions())
      : undefined;
    logger = pino(
      { level },
      { write: (line: string) => sink.write(prettify === undefined ? line : prettify(line)) },
    );
  }
  return logger.child(bindings);
}
