/**
 * The shape every phase service shares: connect, consume the phase's work queue with the shared
 * durable consumer, publish results as events, and report a step that failed for good.
 */
import {
  COMMAND_STREAMS,
  PHASE_CONSUMERS,
  PHASE_SERVICES,
  STEPS,
  holdsSet,
  svmRecordFrom,
  stepOfCommand,
  svmKey,
  type Phase,
  type RvssError,
  type StepSpec,
  type SvmRecord,
} from "@rvss/core";
import { stepFromJSON, type CommandContext, type Event } from "@rvss/proto";
import { stepSeconds, type Logger, type RunningService, type RvssConfig } from "@rvss/runtime";
import { connectService, type Bus } from "./bus";
import { decodeCommand, publishEvent, resultEvent, type PhaseCommand } from "./messages";
import { startWorker, type Delivery } from "./worker";

type Body = NonNullable<Event["body"]>;

/** One result of a command; `discriminator` tells apart several events of one type (e.g. per volume). */
export interface PhaseResult {
  body: Body;
  discriminator?: string;
}

export interface PhaseServiceOptions<P extends Phase> {
  phase: P;
  /** Does the work, reporting each result with `emit` as soon as it is true. */
  handle(cmd: PhaseCommand[P], emit: (r: PhaseResult) => Promise<void>, d: Delivery<PhaseCommand[P]>): Promise<void>;
  /** The event that reports a command given up for good, where it is not the step's StepFailed. */
  failure?(cmd: PhaseCommand[P], err: RvssError): Body | undefined;
  /** Runs once connected, before the first command is taken. */
  prepare?(bus: Bus): Promise<void>;
}

export async function startPhaseService<P extends Phase>(
  config: RvssConfig,
  log: Logger,
  o: PhaseServiceOptions<P>,
): Promise<RunningService & { bus: Bus }> {
  // The phase's service name is its connection name and its events' source.
  const source = PHASE_SERVICES[o.phase];
  const bus = await connectService(config, source, log);
  await o.prepare?.(bus);
  // A command delivered again while this replica still works on it (published twice, or handed out
  // again) waits for that run to end, then runs and finds its work done. Two runs of one command at
  // once could undo each other's half-done work on storage.
  const running = new Map<string, Promise<void>>();
  const worker = startWorker(bus, {
    stream: COMMAND_STREAMS[o.phase],
    consumer: PHASE_CONSUMERS[o.phase],
    decode: (b) => decodeCommand(o.phase, b),
    log,
    concurrency: config.concurrency,
    maxDeliver: config.maxDeliver,
    ackWaitMs: config.ackWaitMs,
    async handle(d) {
      const ctx = d.data.context;
      const key = ctx?.commandId ?? "";
      const before = running.get(key);
      const run = (async () => {
        await before?.catch(() => undefined);
        await o.handle(
          d.data,
          (r) => publishEvent(bus, resultEvent(ctx, source, r.body, r.discriminator)).then(() => undefined),
          d,
        );
      })();
      running.set(key, run);
      const started = Date.now();
      try {
        await run;
      } finally {
        if (running.get(key) === run) running.delete(key);
      }
      stepSeconds.observe(
        { step: stepOfCommand(d.data.kind?.$case ?? "") ?? "unknown" },
        (Date.now() - started) / 1000,
      );
      log.info(
        {
          setId: ctx?.setId,
          backupId: ctx?.backupId,
          svm: ctx?.svm,
          command: d.data.kind?.$case,
          ms: Date.now() - started,
        },
        `${d.data.kind?.$case} done`,
      );
    },
    async onGiveUp(d, err) {
      // Work given up after its set ended (a command delivered again long after) reports nothing:
      // nobody waits for it, and a failure after a completed set would mislead subscribers. It is
      // still dead-lettered.
      if (!(await setLive(bus, d.data.context))) {
        log.warn(
          { setId: d.data.context?.setId, command: d.data.kind?.$case, err: err.message },
          "work of a set that has ended failed; not reported",
        );
        return;
      }
      const body = o.failure?.(d.data, err) ?? stepFailed(d.data.kind?.$case, err);
      await publishEvent(bus, resultEvent(d.data.context, source, body));
    },
  });
  return {
    bus,
    unready: () => bus.connection.unready() ?? (worker.running() ? null : `the ${o.phase} worker has stopped`),
    async stop() {
      await worker.stop();
      await bus.close();
    },
  };
}

/** False when the SVM's record shows the command's set ended (neither running nor removing its storage). */
async function setLive(bus: Bus, ctx: CommandContext | undefined): Promise<boolean> {
  if (!ctx?.setId) return true;
  const rec = (await bus.state.get<SvmRecord>(svmKey(ctx.svm)))?.value;
  return !rec || holdsSet(svmRecordFrom(rec), ctx.setId);
}

/** A StepFailed naming the step the table of steps gives the command's case. */
function stepFailed(command: string | undefined, err: RvssError): Body {
  const key = command ? stepOfCommand(command) : undefined;
  const failure = key ? (STEPS[key] as StepSpec).failure : undefined;
  return {
    $case: "stepFailed",
    value: { step: stepFromJSON(failure ?? "STEP_UNSPECIFIED"), reason: err.message, code: err.code },
  };
}
