/** Decodes the events of the phases into the reports the core applies. */
import {
  ErrorCodes,
  STEPS,
  stepOfFailure,
  toErrorCode,
  type ErrorCode,
  type StepName,
  type StepReport,
  type WriterStepRecord,
} from "@rvss/core";
import { VerificationState, stepToJSON, type Event, type WriterReport } from "@rvss/proto";

/** The report an event carries, or null for events that report no step (the coordinator's own). */
export function toReport(e: Event): StepReport | null {
  const setId = e.setId;
  const b = e.body;
  if (!b || !setId) return null;
  switch (b.$case) {
    case "sharesResolved":
      return {
        type: "sharesResolved",
        setId,
        shares: b.value.shares.map((s) => ({
          share: s.share,
          volume: s.volume,
          sharePath: s.sharePath,
          files: s.files,
        })),
      };
    case "sharesRejected":
      return {
        type: "stepFailed",
        setId,
        step: "resolve",
        reason: b.value.reason,
        code: b.value.violations[0] ? ruleCode(b.value.violations[0].rule) : ErrorCodes.LAYOUT_UNSUPPORTED,
      };
    case "writersCheckpointed":
      return { type: "writersCheckpointed", setId, reports: steps("checkpoint", b.value.writers) };
    case "writersThawed":
      return { type: "writersThawed", setId, reports: steps("thaw", b.value.writers) };
    case "shadowCopiesCreated":
      return {
        type: "shadowCopiesCreated",
        setId,
        copies: b.value.shadowCopies.map((c) => ({
          id: c.shadowCopyId,
          clonePath: c.clonePath,
          bytes: Number(c.bytes),
          fileCount: c.fileCount,
          share: c.share,
          volume: c.volume,
          sharePath: c.sharePath,
          files: c.files,
        })),
      };
    case "shadowCopiesExposed":
      return {
        type: "shadowCopiesExposed",
        setId,
        copies: b.value.shadowCopies.map((c) => ({ id: c.shadowCopyId, accessPath: c.accessPath })),
      };
    case "writersRecovered":
      return { type: "writersRecovered", setId, reports: steps("auto_recover", b.value.writers) };
    case "shadowCopiesSealed":
      return { type: "shadowCopiesSealed", setId };
    case "snapshotTaken": {
      const s = b.value.snapshot!;
      return {
        type: "snapshotTaken",
        setId,
        volume: s.volume,
        name: s.name,
        takenAt: s.createdAt?.getTime() ?? Date.now(),
        ...(s.verification?.state === VerificationState.VERIFICATION_STATE_NONE ? { noChecksums: true as const } : {}),
      };
    }
    case "shadowCopiesDeleted":
      return {
        type: "shadowCopiesDeleted",
        setId,
        shadowCopyIds: b.value.shadowCopyIds,
        snapshots: b.value.deletedSnapshots,
      };
    case "stepFailed": {
      const step = stepOfFailure(stepToJSON(b.value.step));
      const failed = step === "removal" || (step && STEPS[step].awaited) ? (step as StepName | "removal") : null;
      return failed
        ? { type: "stepFailed", setId, step: failed, reason: b.value.reason, code: toErrorCode(b.value.code) }
        : null;
    }
    default:
      return null;
  }
}

function steps(step: WriterStepRecord["step"], reports: WriterReport[]): WriterStepRecord[] {
  return reports.map((r) => ({
    step,
    writerId: r.writerId,
    name: r.name,
    ok: r.ok,
    reason: r.reason,
    detail: r.detail,
    at: r.answeredAt?.getTime() ?? Date.now(),
    elapsedMs: r.elapsedMs,
  }));
}

function ruleCode(rule: string): ErrorCode {
  if (rule === "svm-not-found") return ErrorCodes.SVM_NOT_FOUND;
  if (rule === "share-not-found") return ErrorCodes.SHARE_NOT_FOUND;
  if (rule === "file-not-found") return ErrorCodes.FILE_NOT_FOUND;
  if (rule === "file-not-regular") return ErrorCodes.FILE_NOT_REGULAR;
  if (["file-escapes-share", "absolute-path", "parent-segment", "nul-byte"].includes(rule))
    return ErrorCodes.PATH_ESCAPES_SHARE;
  return ErrorCodes.LAYOUT_UNSUPPORTED;
}
