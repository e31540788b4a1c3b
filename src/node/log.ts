import { type Logger, pino } from "pino";

/** JSON logs for machines; pretty ones when a person watches a terminal. */
export function createLogger(level: string, bindings: Record<string, string> = {}): Logger {
  const pretty = process.stdout.isTTY && process.env.REGSYNC_LOG_FORMAT !== "json";
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
