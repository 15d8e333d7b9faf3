import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import pino, { type Logger } from "pino";
import type { RvssConfig } from "./config";

export type { Logger };

/** The trace of the work at hand (a gRPC call, the message being handled), for every log line. */
function traceFields(): Record<string, string> {
  const s = trace.getSpan(context.active())?.spanContext();
  return s && isSpanContextValid(s) ? { traceId: s.traceId, spanId: s.spanId } : {};
}

/**
 * One root logger per process: JSON lines with level names ("info", which log pipelines read),
 * the service name and the trace ID; children add set and backup IDs. "pretty" is one line per
 * entry for people, coloured only on a terminal. Lines go to stdout unless `destination` is given.
 */
export function createLogger(
  service: string,
  config: Pick<RvssConfig, "logLevel" | "logFormat">,
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: traceFields,
    ...(config.logFormat === "pretty"
      ? {
          transport: {
            target: "pino-pretty",
            options: {
              singleLine: true,
              colorize: process.stdout.isTTY === true && !process.env.NO_COLOR,
              translateTime: "SYS:HH:MM:ss.l",
              ignore: "pid,hostname,service",
            },
          },
        }
      : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
