import { type Logger, pino } from "pino";

/** JSON logs for machines; pretty ones when a person watches a terminal. */
export function createLogger(
  level: string,
  bindings: Record<string, string> = {},
  format: "auto" | "json" | "pretty" = "auto",
): Logger {
  const pretty = format === "pretty" || (format === "auto" && process.stdout.isTTY === true);
  const logger = pretty
    ? pino({
        level,
        transport: {
          target: "pino-pretty",
          options: { colorize: true, translateTime: "HH:MM:ss.l" },
        },
      })
    : pino({ level });
  return logger.child(bindings);
}
