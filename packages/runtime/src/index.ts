// @rvss/runtime: what every rvss process needs: configuration, logging, health, metrics, lifecycle.
export {
  defaultConfig,
  loadConfig,
  ONTAP_LATENCY,
  type Env,
  type GrpcSecurity,
  type NatsCredentials,
  type NatsTls,
  type RvssConfig,
  type StorageLatency,
  type WriterTimeouts,
} from "./config";
export { createLogger, type Logger } from "./logger";
export { type HealthServer, type Unready } from "./health";
export {
  backupsDeleted,
  eventsPublished,
  handlerSeconds,
  messagesHandled,
  natsConnected,
  reconcileDrainsRetried,
  reconcileOrphans,
  reconcileRuns,
  registry,
  scheduleTicks,
  stepSeconds,
} from "./metrics";
export { runService, type RunningService, type StartFn } from "./service";
export { startTracing, type Tracing } from "./tracing";
