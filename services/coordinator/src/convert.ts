/** Core records to wire messages. */
import {
  isAutoRecovery,
  STEPS,
  progressOf,
  toErrorCode,
  type BackupRecord,
  type BackupSnapshot,
  type BackupSetView,
  type ShadowCopySetStatus,
  type ShadowCopyRecord,
  type ShadowCopySet,
  type SnapshotVerificationRecord,
  type SvmRecord,
  type VmFileList,
  type WriterStepRecord,
} from "@rvss/core";
import {
  BackupSetPhase,
  BackupState,
  SetStatus,
  VerificationState,
  WriterErrorPolicy,
  type Backup,
  type BackupSet,
  type ShadowCopy,
  type ShareSelection,
  type SnapshotVerification,
  type Verification,
  type VolumeSnapshot,
  type WriterStep,
} from "@rvss/proto";

const statusMap: Record<ShadowCopySetStatus, SetStatus> = {
  Started: SetStatus.SET_STATUS_STARTED,
  Added: SetStatus.SET_STATUS_ADDED,
  CreationInProgress: SetStatus.SET_STATUS_CREATION_IN_PROGRESS,
  Committed: SetStatus.SET_STATUS_COMMITTED,
  Exposed: SetStatus.SET_STATUS_EXPOSED,
  Recovered: SetStatus.SET_STATUS_RECOVERED,
};

/** A share of a request (dataset item, requested share, shadow copy) as the contracts carry it. */
export function selectionToProto(
  svm: string,
  s: { share: string; files: string[]; vms?: VmFileList[] },
): ShareSelection {
  return { svm, share: s.share, files: s.files, vms: s.vms ?? [] };
}

export function shadowCopyToProto(c: ShadowCopyRecord, context: number): ShadowCopy {
  return {
    shadowCopyId: c.id,
    share: c.share,
    volume: c.volume,
    sharePath: c.sharePath,
    files: c.files,
    exposedName: c.mapping?.shadowCopyShareName ?? "",
    writable: isAutoRecovery(context),
    clonePath: c.clonePath ?? "",
    accessPath: c.accessPath ?? "",
    bytes: BigInt(c.bytes ?? 0),
    fileCount: c.fileCount ?? 0,
  };
}

const verificationStates: Record<SnapshotVerificationRecord["state"], VerificationState> = {
  verifying: VerificationState.VERIFICATION_STATE_VERIFYING,
  verified: VerificationState.VERIFICATION_STATE_VERIFIED,
  failed: VerificationState.VERIFICATION_STATE_FAILED,
  none: VerificationState.VERIFICATION_STATE_NONE,
};

/** A snapshot's verification as recorded; pending while nothing was reported. */
export function verificationToProto(v: SnapshotVerificationRecord | undefined): Verification {
  return {
    state: v ? verificationStates[v.state] : VerificationState.VERIFICATION_STATE_PENDING,
    reason: v?.reason ?? "",
    code: v?.code ?? "",
    file: v?.file ?? "",
    files: v?.files ?? 0,
    bytes: BigInt(v?.bytes ?? 0),
    ...(v ? { at: new Date(v.at) } : {}),
  };
}

/** The executor's report of a verification, as the coordinator records it; null for a state it cannot report. */
export function verificationFromProto(e: SnapshotVerification): SnapshotVerificationRecord | null {
  const v = e.verification;
  const state = (Object.keys(verificationStates) as SnapshotVerificationRecord["state"][]).find(
    (k) => verificationStates[k] === v?.state,
  );
  if (!v || !state) return null;
  return {
    volume: e.volume,
    name: e.name,
    state,
    ...(v.reason ? { reason: v.reason } : {}),
    ...(v.code ? { code: toErrorCode(v.code) } : {}),
    ...(v.file ? { file: v.file } : {}),
    ...(state === "verified" ? { files: v.files, bytes: Number(v.bytes) } : {}),
    at: v.at?.getTime() ?? Date.now(),
  };
}

export function backupSnapshotToProto(s: BackupSnapshot, backupId: string): VolumeSnapshot {
  return {
    svm: s.svm,
    volume: s.volume,
    name: s.name,
    createdAt: new Date(s.takenAt),
    backupId,
    setId: s.setId,
    shadowCopies: s.shadowCopies.map((c) => ({
      shadowCopyId: c.id,
      share: c.share,
      volume: s.volume,
      sharePath: "",
      files: c.files,
      exposedName: "",
      writable: false,
      clonePath: c.clonePath,
      accessPath: "",
      bytes: BigInt(c.bytes),
      fileCount: c.fileCount,
    })),
    verification: verificationToProto(s.verification),
  };
}

const stateMap: Record<BackupRecord["state"], BackupState> = {
  Running: BackupState.BACKUP_STATE_RUNNING,
  Completed: BackupState.BACKUP_STATE_COMPLETED,
  PartiallyFailed: BackupState.BACKUP_STATE_PARTIALLY_FAILED,
  Failed: BackupState.BACKUP_STATE_FAILED,
  Cancelled: BackupState.BACKUP_STATE_CANCELLED,
  Deleting: BackupState.BACKUP_STATE_DELETING,
  Deleted: BackupState.BACKUP_STATE_DELETED,
};

export function backupStateToProto(s: BackupRecord["state"]): BackupState {
  return stateMap[s];
}

const phaseMap: Record<BackupSetView["phase"], BackupSetPhase> = {
  queued: BackupSetPhase.BACKUP_SET_PHASE_QUEUED,
  completed: BackupSetPhase.BACKUP_SET_PHASE_COMPLETED,
  failed: BackupSetPhase.BACKUP_SET_PHASE_FAILED,
};

/** The live view of a plan entry, from the SVM record when its set is still there. */
export interface LiveSet {
  set?: ShadowCopySet;
  removing: boolean;
  /** Place in the SVM's queue (one set in creation per SVM). */
  queuePosition: number;
  /** Place among the sets waiting for a global slot (the planner's limit); 0 once released. */
  waitingPosition?: number;
}

export function backupToProto(b: BackupRecord, live: (p: BackupSetView) => LiveSet): Backup {
  const sets = b.sets.map((p): BackupSet => {
    const l = live(p);
    const stage = l.set?.pending
      ? STEPS[l.set.pending.kind].stage
      : l.removing
        ? STEPS.removal.stage
        : l.queuePosition > 0
          ? "waiting for the SVM"
          : l.waitingPosition
            ? "waiting for a free slot (RVSS_MAX_CONCURRENT_SETS)"
            : "";
    return {
      index: p.index,
      svm: p.svm,
      shares: p.shares.map((s) => s.share),
      setId: p.setId ?? l.set?.id ?? "",
      phase:
        p.phase === "queued" && (l.set || l.removing) ? BackupSetPhase.BACKUP_SET_PHASE_RUNNING : phaseMap[p.phase],
      status: l.set ? statusMap[l.set.status] : SetStatus.SET_STATUS_UNSPECIFIED,
      stage: p.phase === "completed" || p.phase === "failed" ? "" : stage,
      reason: p.reason ?? "",
      // A deleted backup's snapshots are gone; its record still counts them (progress).
      snapshots: b.state === "Deleted" ? [] : p.snapshots.map((s) => backupSnapshotToProto(s, b.id)),
      queuePosition: l.queuePosition || (l.waitingPosition ?? 0),
      writerSteps: (p.writerSteps ?? l.set?.writerSteps ?? []).map(writerStepToProto),
    };
  });
  return {
    id: b.id,
    state: stateMap[b.state],
    reason: b.reason ?? "",
    description: b.description,
    createdAt: new Date(b.createdAt),
    updatedAt: new Date(b.updatedAt),
    ...(b.finishedAt ? { finishedAt: new Date(b.finishedAt) } : {}),
    dataset: b.dataset.map((d) => selectionToProto(d.svm, d)),
    sets,
    progress: progressOf(b),
    onWriterError:
      b.onWriterError === "continue"
        ? WriterErrorPolicy.WRITER_ERROR_POLICY_CONTINUE
        : WriterErrorPolicy.WRITER_ERROR_POLICY_FAIL,
    name: b.name ?? "",
    labels: b.labels ?? {},
    schedule: b.schedule ?? "",
    ttl: b.retention?.ttl ?? "",
    keepLast: b.retention?.keepLast ?? 0,
    ...(b.expiresAt !== undefined ? { expiresAt: new Date(b.expiresAt) } : {}),
    deletionReason: b.deletion?.reason ?? "",
    ...(b.deletion?.deletedAt !== undefined ? { deletedAt: new Date(b.deletion.deletedAt) } : {}),
  };
}

export function writerStepToProto(w: WriterStepRecord): WriterStep {
  return {
    step: w.step,
    report: {
      writerId: w.writerId,
      name: w.name,
      ok: w.ok,
      reason: w.reason,
      detail: w.detail,
      answeredAt: new Date(w.at),
      elapsedMs: w.elapsedMs,
    },
  };
}

/** Finds a backup's plan entry in its SVM's record. */
export function liveSetOf(server: SvmRecord | null, backupId: string, index: number): LiveSet {
  if (!server) return { removing: false, queuePosition: 0 };
  const match = (l?: { backupId: string; index: number }) => l?.backupId === backupId && l.index === index;
  const set = server.sets.find((s) => match(s.backup));
  return {
    ...(set ? { set } : {}),
    removing: server.removals.some((d) => match(d.backup)),
    queuePosition: server.queue.findIndex((q) => match(q.backup)) + 1,
  };
}
