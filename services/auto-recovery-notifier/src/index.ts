/**
 * auto-recovery-notifier: asks the application writers of a set's files to checkpoint before the
 * shadow copies are made, and to auto-recover inside the exposed copies before they are sealed.
 * With no writer registered for a share it records that in its answer and lets the set proceed.
 */
import { RvssError } from "@rvss/core";
import { COMMAND_STREAMS, PHASE_CONSUMERS, commandCodec, connectBus, publishEvent, resultEvent, startWorker } from "@rvss/bus";
import { Step } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";

const SOURCE = "auto-recovery-notifier";

export async function startAutoRecoveryNotifier(config: RvssConfig, log: Logger): Promise<RunningService> {
  const bus = await connectBus(config, SOURCE, log);
  const codec = commandCodec("notifier");
  const worker = startWorker(bus, {
    stream: COMMAND_STREAMS.notifier,
    consumer: PHASE_CONSUMERS.notifier,
    decode: (b) => codec.decode(b),
    log,
    concurrency: config.concurrency,
    maxDeliver: config.maxDeliver,
    ackWaitMs: config.ackWaitMs,
    async handle(d) {
      const cmd = d.data;
      const k = cmd.kind;
      const ctx = { setId: cmd.context?.setId, backupId: cmd.context?.backupId, svm: cmd.context?.svm };
      if (k?.$case === "checkpointWriters") {
        const shares = k.value.shares.map((s) => s.share);
        log.info({ ...ctx, shares }, "no writer registered for these shares; proceeding without a checkpoint");
        await publishEvent(bus, resultEvent(cmd.context, SOURCE, { $case: "writersCheckpointed", value: { writers: [], sharesWithoutWriters: shares } }), d.trace);
      } else if (k?.$case === "autoRecoverWriters") {
        const shares = k.value.shadowCopies.map((c) => c.share);
        log.info({ ...ctx, shares }, "no writer registered for these shares; nothing to auto-recover");
        await publishEvent(bus, resultEvent(cmd.context, SOURCE, { $case: "writersRecovered", value: { writers: [], sharesWithoutWriters: shares } }), d.trace);
      } else {
        throw new RvssError("INVALID_ARGUMENT", "notifier command without a kind");
      }
    },
    async onGiveUp(d, err) {
      const step = d.data.kind?.$case === "autoRecoverWriters" ? Step.STEP_AUTO_RECOVER : Step.STEP_CHECKPOINT;
      await publishEvent(bus, resultEvent(d.data.context, SOURCE, { $case: "stepFailed", value: { step, reason: err.message, code: err.code } }), d.trace);
    },
  });
  return {
    ready: () => bus.connected() && worker.running(),
    async stop() {
      await worker.stop();
      await bus.close();
    },
  };
}
