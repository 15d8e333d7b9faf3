/**
 * snapshot-executor: every storage side effect of rvss. Creates, exposes, seals and deletes shadow
 * copies, takes and deletes per-volume snapshots, restores. Replicas share one durable consumer.
 */
import { RvssError } from "@rvss/core";
import { COMMAND_STREAMS, PHASE_CONSUMERS, commandCodec, connectBus, publishEvent, resultEvent, startWorker } from "@rvss/bus";
import { Step, type ExecutorCommand } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";
import { LocalBackend, type StorageBackend } from "@rvss/storage";
import * as steps from "./steps";

const SOURCE = "snapshot-executor";

type Kind = NonNullable<ExecutorCommand["kind"]>["$case"];

const stepOf: Record<Kind, Step> = {
  createShadowCopies: Step.STEP_CREATE,
  exposeShadowCopies: Step.STEP_EXPOSE,
  sealShadowCopies: Step.STEP_SEAL,
  takeSnapshots: Step.STEP_SNAPSHOT,
  deleteShadowCopies: Step.STEP_DELETE,
  restoreFiles: Step.STEP_RESTORE,
};

async function run(backend: StorageBackend, cmd: ExecutorCommand): Promise<steps.StepResult> {
  const svm = cmd.context?.svm ?? "";
  const k = cmd.kind;
  switch (k?.$case) {
    case "createShadowCopies":
      return steps.createShadowCopies(backend, svm, k.value);
    case "exposeShadowCopies":
      return steps.exposeShadowCopies(backend, svm, k.value);
    case "sealShadowCopies":
      return steps.sealShadowCopies(backend, svm, k.value);
    case "takeSnapshots":
      return steps.takeSnapshots(backend, svm, { backupId: cmd.context?.backupId ?? "", setId: cmd.context?.setId ?? "" }, k.value);
    case "deleteShadowCopies":
      return steps.deleteShadowCopies(backend, svm, k.value);
    case "restoreFiles":
      return steps.restoreFiles(backend, k.value);
    default:
      throw new RvssError("INVALID_ARGUMENT", "executor command without a kind");
  }
}

export async function startSnapshotExecutor(config: RvssConfig, log: Logger, backend: StorageBackend = LocalBackend.fromFile(config.filerConfig)): Promise<RunningService> {
  const bus = await connectBus(config, SOURCE, log);
  const codec = commandCodec("executor");
  const worker = startWorker(bus, {
    stream: COMMAND_STREAMS.executor,
    consumer: PHASE_CONSUMERS.executor,
    decode: (b) => codec.decode(b),
    log,
    concurrency: config.concurrency,
    maxDeliver: config.maxDeliver,
    ackWaitMs: config.ackWaitMs,
    async handle(d) {
      const cmd = d.data;
      const started = Date.now();
      const results = await run(backend, cmd);
      for (const r of results) await publishEvent(bus, resultEvent(cmd.context, SOURCE, r.body, r.discriminator), d.trace);
      log.info({ setId: cmd.context?.setId, backupId: cmd.context?.backupId, svm: cmd.context?.svm, step: cmd.kind?.$case, ms: Date.now() - started }, `${cmd.kind?.$case} done`);
    },
    async onGiveUp(d, err) {
      const cmd = d.data;
      const body =
        cmd.kind?.$case === "restoreFiles"
          ? steps.restoreFailed(cmd.kind.value.restoreId, err).body
          : ({ $case: "stepFailed", value: { step: cmd.kind ? stepOf[cmd.kind.$case] : Step.STEP_UNSPECIFIED, reason: err.message, code: err.code } } as const);
      await publishEvent(bus, resultEvent(cmd.context, SOURCE, body), d.trace);
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
