/**
 * auto-recovery-notifier: asks the application writers of a set's files to checkpoint before the
 * shadow copies are made, and to auto-recover inside the exposed copies before they are sealed.
 * With no writer registered for a share it records that in its answer and lets the set proceed.
 */
import { RvssError } from "@rvss/core";
import { startPhaseService } from "@rvss/bus";
import { Step } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";

export function startAutoRecoveryNotifier(config: RvssConfig, log: Logger): Promise<RunningService> {
  return startPhaseService(config, log, {
    phase: "notifier",
    source: "auto-recovery-notifier",
    async handle(cmd) {
      const k = cmd.kind;
      const ctx = { setId: cmd.context?.setId, backupId: cmd.context?.backupId, svm: cmd.context?.svm };
      if (k?.$case === "checkpointWriters") {
        const shares = k.value.shares.map((s) => s.share);
        log.info({ ...ctx, shares }, "no writer registered for these shares; proceeding without a checkpoint");
        return [{ body: { $case: "writersCheckpointed", value: { writers: [], sharesWithoutWriters: shares } } }];
      }
      if (k?.$case === "autoRecoverWriters") {
        const shares = k.value.shadowCopies.map((c) => c.share);
        log.info({ ...ctx, shares }, "no writer registered for these shares; nothing to auto-recover");
        return [{ body: { $case: "writersRecovered", value: { writers: [], sharesWithoutWriters: shares } } }];
      }
      throw new RvssError("INVALID_ARGUMENT", "notifier command without a kind");
    },
    failure: (cmd, err) => ({ $case: "stepFailed", value: { step: cmd.kind?.$case === "autoRecoverWriters" ? Step.STEP_AUTO_RECOVER : Step.STEP_CHECKPOINT, reason: err.message, code: err.code } }),
  });
}
