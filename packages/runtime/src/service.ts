/**
 * Process wiring shared by the four services: config, logger, health endpoint, signals. A service
 * only supplies `start`, which returns once it serves and gives back how to stop it.
 */
import { ErrorCodes, RvssError, errorMessage } from "@rvss/core";
import { loadConfig, type RvssConfig } from "./config";
import { startHealthServer } from "./health";
import { createLogger, type Logger } from "./logger";
import { startTracing, type Tracing } from "./tracing";

export interface RunningService {
  /** Why the service cannot do its work now (NATS lost, storage failing), or null while it can. */
  unready(): string | null;
  /** Stops taking work, finishes what is in flight, disconnects. */
  stop(): Promise<void>;
}

export type StartFn = (config: RvssConfig, log: Logger) => Promise<RunningService>;

const STOP_GRACE_MS = 20_000;

export async function runService(name: string, start: StartFn): Promise<void> {
  let config: RvssConfig;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${name}: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  let tracing: Tracing;
  try {
    tracing = startTracing(name);
  } catch (err) {
    process.stderr.write(`${name}: ${errorMessage(err)}\n`);
    process.exit(2);
  }
  const log = createLogger(name, config);
  function fail(err: unknown): never {
    const e = RvssError.from(err);
    log.fatal({ code: e.code, details: e.details }, e.message);
    process.stderr.write(`${name}: ${e.message}\n`);
    process.exit(1);
  }
  // Health first: a taken port is found before anything connects, and /healthz answers while the
  // service starts (not ready until it serves).
  let service: RunningService | undefined;
  const healthAddr = config.healthAddr;
  const health = healthAddr
    ? await startHealthServer(healthAddr, () => (service ? service.unready() : "starting")).catch((err: unknown) =>
        fail(
          new RvssError(
            ErrorCodes.CONFIG_INVALID,
            `cannot serve health and metrics on RVSS_HEALTH_ADDR ${healthAddr}: ${errorMessage(err)}`,
            { healthAddr },
          ),
        ),
      )
    : null;
  try {
    service = await start(config, log);
  } catch (err) {
    await health?.close();
    fail(err);
  }
  log.info({ health: health?.port, traces: tracing.exporter }, `${name} started`);
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${name} stopping`);
    const force = setTimeout(() => {
      log.error(`${name} did not stop within ${STOP_GRACE_MS} ms; exiting`);
      process.exit(1);
    }, STOP_GRACE_MS);
    force.unref();
    await service.stop();
    await health?.close();
    await tracing.shutdown();
    log.info(`${name} stopped`);
    log.flush?.();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
