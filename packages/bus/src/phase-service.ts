/**
 * The shape every phase service shares: connect, consume the phase's work queue with the shared
 * durable consumer, publish results as events, and report a step that failed for good.
 */
import type { RvssError } from "@rvss/core";
import type { Event } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";
import { connectBus, type Bus } from "./bus";
import { decodeCommand, publishEvent, resultEvent, type PhaseCommand } from "./messages";
import { COMMAND_STREAMS, PHASE_CONSUMERS, type Phase } from "./topology";
import { startWorker, type Delivery } from "./worker";

type Body = NonNullable<Event["body"]>;

/** One result of a command; `discriminator` tells apart several events of one type (e.g. per volume). */
export interface PhaseResult {
  body: Body;
  discriminator?: string;
}

export interface PhaseServiceOptions<P extends Phase> {
  phase: P;
  /** The service's name, used as the connection name and the events' source. */
  source: string;
  /** Does the work, reporting each result with `emit` as soon as it is true. */
  handle(cmd: PhaseCommand[P], emit: (r: PhaseResult) => Promise<void>, d: Delivery<PhaseCommand[P]>): Promise<void>;
  /** The event that reports a command given up for good. */
  failure(cmd: PhaseCommand[P], err: RvssError): Body;
  /** Runs once connected, before the first command is taken. */
  prepare?(bus: Bus): Promise<void>;
}

export async function startPhaseService<P extends Phase>(config: RvssConfig, log: Logger, o: PhaseServiceOptions<P>): Promise<RunningService & { bus: Bus }> {
  const bus = await connectBus(config, o.source, log);
  await o.prepare?.(bus);
  const worker = startWorker(bus, {
    stream: COMMAND_STREAMS[o.phase],
    consumer: PHASE_CONSUMERS[o.phase],
    decode: (b) => decodeCommand(o.phase, b),
    log,
    concurrency: config.concurrency,
    maxDeliver: config.maxDeliver,
    ackWaitMs: config.ackWaitMs,
    async handle(d) {
      const started = Date.now();
      await o.handle(d.data, (r) => publishEvent(bus, resultEvent(d.data.context, o.source, r.body, r.discriminator), d.trace).then(() => undefined), d);
      const ctx = d.data.context;
      log.info({ setId: ctx?.setId, backupId: ctx?.backupId, svm: ctx?.svm, command: d.data.kind?.$case, ms: Date.now() - started }, `${d.data.kind?.$case} done`);
    },
    async onGiveUp(d, err) {
      await publishEvent(bus, resultEvent(d.data.context, o.source, o.failure(d.data, err)), d.trace);
    },
  });
  return {
    bus,
    ready: () => bus.connected() && worker.running(),
    async stop() {
      await worker.stop();
      await bus.close();
    },
  };
}
