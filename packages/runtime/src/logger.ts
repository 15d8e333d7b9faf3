import pino, { type Logger } from "pino";
import type { RvssConfig } from "./config";

export type { Logger };

/** One root logger per process: JSON lines with the service name; children add set and backup IDs. */
export function createLogger(service: string, config: Pick<RvssConfig, "logLevel" | "logFormat">): Logger {
  return pino({
    name: service,
    level: config.logLevel,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(config.logFormat === "pretty" ? { transport: { target: "pino-pretty", options: { colorize: true } } } : {}),
  });
}
