// @rvss/bus: rvss on NATS JetStream: topology, publishing, workers, durable state.
export {
  Bus,
  connectBus,
  connectService,
  provisionNats,
  PUBLISH_GIVE_UP_MS,
  HEADER_CORRELATION,
  HEADER_SOURCE,
  headerValue,
  redactUrls,
  type BusOptions,
  type PublishOptions,
} from "./bus";
export { type ConnectionWatch } from "./connection";
export { type Provisioned, type ResourceKind } from "./provision";
export { StateStore, bucketKeys, type Mutation, type Versioned } from "./state-store";
export { startWorker, type Delivery, type Worker, type WorkerOptions } from "./worker";
export { DLQ_HEADERS, getDeadLetter, listDeadLetters, type DeadLetter } from "./dead-letters";
export {
  commandQueued,
  commandResults,
  decodeCommand,
  decodeEvent,
  eventStored,
  eventSubject,
  eventType,
  publishCommand,
  publishEvent,
  publishEventOnce,
  resultEvent,
  type PhaseCommand,
} from "./messages";
export { natsConnectOptions } from "./credentials";
export { startPhaseService, type PhaseResult, type PhaseServiceOptions } from "./phase-service";
export { checkShares, serveCheckShares, serveStorageInventory, storageInventory } from "./queries";
