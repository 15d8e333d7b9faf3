/**
 * snapshot-executor: every storage side effect of rvss. Creates, exposes, seals and deletes shadow
 * copies, takes and deletes per-volume snapshots, restores. Replicas share one durable consumer.
 * It also answers the reconciler's StorageInventory query (what the storage holds).
 */
import { RvssError } from "@rvss/core";
import { serveStorageInventory, startPhaseService } from "@rvss/bus";
import { Step, type ExecutorCommand } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";
import { openBackend, type StorageBackend } from "@rvss/storage";
import * as steps from "./steps";

type Kind = NonNullable<ExecutorCommand["kind"]>["$case"];

const stepOf: Record<Kind, Step> = {
  createShadowCopies: Step.STEP_CREATE,
  exposeShadowCopies: Step.STEP_EXPOSE,
  sealShadowCopies: Step.STEP_SEAL,
  finalizeShadowCopies: Step.STEP_FINALIZE,
  deleteShadowCopies: Step.STEP_DELETE,
  restoreFiles: Step.STEP_RESTORE,
};

async function run(backend: StorageBackend, cmd: ExecutorCommand, emit: steps.Emit, lastTry: boolean): Promise<void> {
  const svm = cmd.context?.svm ?? "";
  const k = cmd.kind;
  switch (k?.$case) {
    case "createShadowCopies":
      return steps.createShadowCopies(backend, svm, k.value, emit, lastTry);
    case "exposeShadowCopies":
      return steps.exposeShadowCopies(backend, svm, k.value, emit);
    case "sealShadowCopies":
      return steps.sealShadowCopies(backend, svm, k.value, emit);
    case "finalizeShadowCopies":
      return steps.finalizeShadowCopies(
        backend,
        svm,
        { backupId: cmd.context?.backupId ?? "", setId: cmd.context?.setId ?? "" },
        k.value,
        emit,
      );
    case "deleteShadowCopies":
      return steps.deleteShadowCopies(backend, svm, k.value, emit);
    case "restoreFiles":
      return steps.restoreFiles(backend, k.value, emit);
    default:
      throw new RvssError("INVALID_ARGUMENT", "executor command without a kind");
  }
}

export async function startSnapshotExecutor(
  config: RvssConfig,
  log: Logger,
  backend: StorageBackend = openBackend(config),
): Promise<RunningService> {
  const phase = await startPhaseService(config, log, {
    phase: "executor",
    source: "snapshot-executor",
    handle: (cmd, emit, d) => run(backend, cmd, emit, d.deliveryCount >= config.maxDeliver),
    failure: (cmd, err) =>
      cmd.kind?.$case === "restoreFiles"
        ? steps.restoreFailed(cmd.kind.value.restoreId, err).body
        : {
            $case: "stepFailed",
            value: {
              step: cmd.kind ? stepOf[cmd.kind.$case] : Step.STEP_UNSPECIFIED,
              reason: err.message,
              code: err.code,
            },
          },
  });
  const inventory = serveStorageInventory(phase.bus, log, (req) => steps.storageInventory(backend, req.svms));
  return {
    ready: phase.ready,
    async stop() {
      inventory.stop();
      await phase.stop();
    },
  };
}
