/**
 * How reports from the phases move a set on. A managed backup is an FSRVP client that rvss drives
 * itself: it goes through the very same operations as a requestor on the agent API (one truth),
 * and each completed step starts the next:
 *
 *   queued -> Started --resolve--> Added --checkpoint--> (Prepare) --> CreationInProgress --create-->
 *   Committed --expose--> Exposed --writers recover (only if writers took the checkpoint)-->
 *   (RecoveryComplete) --finalize: seal--> Recovered, snapshot per volume, copies removed -->
 *   removed (snapshots kept)
 *
 * Sets driven through the agent API only take the completions of their storage work from here.
 */
import { ErrorCodes, type ErrorCode } from "../errors";
import { stepsReportedBy, type StepName } from "./steps";
import { formatUnc, snapshotName } from "../naming";
import { MANAGED_BACKUP_CONTEXT } from "./context";
import { removalFailed } from "./reconcile";
import { HRESULT } from "./hresult";
import {
  type CreatedCopy,
  addToShadowCopySet,
  commitBegin,
  commitCompleted,
  commitFailed,
  exposeBegin,
  exposeCompleted,
  prepareShadowCopySet,
  recoveryCompleteBegin,
  recoveryCompleted,
  storageStepFailed,
  storageWorkDone,
} from "./operations";
import { beginStep, draft, findSet, hasSetInCreation } from "./record";
import { removalConfirmed, removalEntry, removeSet, waitedStepEnded } from "./removal";
import { armTimer } from "./timer";
import {
  type BackupLink,
  type Change,
  type Effect,
  type Outcome,
  type PendingRemoval,
  type SetSnapshot,
  type Env,
  type RequestedShare,
  type ShadowCopyRecord,
  type ShadowCopySet,
  type StepFailure,
  type SvmRecord,
  type OnWriterError,
  type WriterStepRecord,
} from "./types";

export function managedClient(backupId: string): string {
  return `backup:${backupId}`;
}

export function isManaged(set: ShadowCopySet): boolean {
  return set.backup !== undefined;
}

/** A share as share-discovery resolved it. */
export interface ResolvedShareInfo {
  share: string;
  volume: string;
  sharePath: string;
  files: string[];
}

/** A report from a phase about one set, decoded from its event. */
export type StepReport =
  | { type: "sharesResolved"; setId: string; shares: ResolvedShareInfo[] }
  | { type: "writersCheckpointed"; setId: string; reports: WriterStepRecord[] }
  | { type: "writersThawed"; setId: string; reports: WriterStepRecord[] }
  | { type: "shadowCopiesCreated"; setId: string; copies: (CreatedCopy & Partial<ShadowCopyRecord>)[] }
  | { type: "shadowCopiesExposed"; setId: string; copies: { id: string; accessPath: string }[] }
  | { type: "writersRecovered"; setId: string; reports: WriterStepRecord[] }
  | { type: "shadowCopiesSealed"; setId: string }
  | { type: "snapshotTaken"; setId: string; volume: string; name: string; takenAt: number; noChecksums?: true }
  | { type: "shadowCopiesDeleted"; setId: string; shadowCopyIds: string[]; snapshots: string[] }
  | { type: "stepFailed"; setId: string; step: StepName | "removal"; reason: string; code: ErrorCode };

export interface ReportOutcome extends Change {
  /** False when the report did not fit the set's state: a duplicate, or late for a removed set. */
  applied: boolean;
}

function same(record: SvmRecord, effects: Effect[] = []): ReportOutcome {
  return { record, effects, applied: false };
}

/** A requestor's storage step reported done; a second report of it changes nothing. */
function workDone(before: SvmRecord, out: Outcome): ReportOutcome {
  return out.record === before ? same(before) : chain([out]);
}

function chain(outcomes: Outcome<unknown>[]): ReportOutcome {
  const last = outcomes[outcomes.length - 1]!;
  return { record: last.record, effects: outcomes.flatMap((o) => o.effects), applied: true };
}

/** Managed sets may start when no client holds the context and no set is in creation. */
function svmIsFree(s: SvmRecord): boolean {
  return !s.contextSet && !hasSetInCreation(s);
}

/**
 * Queues a managed set for its SVM ({@link startQueuedSet} starts it when the SVM is free). Queueing the same plan entry
 * twice (a redelivered request) changes nothing.
 */
export function enqueueManagedSet(
  record: SvmRecord,
  req: { backup: BackupLink; shares: RequestedShare[]; onWriterError?: OnWriterError },
  env: Env,
): Outcome {
  const known =
    record.queue.some((q) => sameLink(q.backup, req.backup)) ||
    record.sets.some((x) => x.backup && sameLink(x.backup, req.backup)) ||
    record.removals.some((d) => d.backup && sameLink(d.backup, req.backup));
  if (known) return { hresult: HRESULT.ZERO, record, effects: [] };
  const s = draft(record);
  s.queue.push({
    backup: req.backup,
    shares: req.shares,
    ...(req.onWriterError ? { onWriterError: req.onWriterError } : {}),
    queuedAt: env.now,
  });
  return { hresult: HRESULT.ZERO, record: s, effects: [] };
}

function sameLink(a: BackupLink, b: BackupLink): boolean {
  return a.backupId === b.backupId && a.index === b.index;
}

/** 1-based position of a queued plan entry, or 0 when it is not queued. */
export function queuePosition(record: SvmRecord, link: BackupLink): number {
  return record.queue.findIndex((q) => sameLink(q.backup, link)) + 1;
}

/**
 * Starts the head of the SVM's queue when the SVM is free: SetContext and StartShadowCopySet in one
 * step on behalf of the backup, then share resolution. The coordinator applies it after every
 * change of an SVM's record, so a queue moves on whatever freed the SVM.
 */
export function startQueuedSet(record: SvmRecord, env: Env): Outcome {
  if (!svmIsFree(record) || record.queue.length === 0) return { hresult: HRESULT.ZERO, record, effects: [] };
  const s = draft(record);
  const next = s.queue.shift()!;
  const client = managedClient(next.backup.backupId);
  s.contextSet = true;
  s.clientAddress = client;
  s.currentContext = MANAGED_BACKUP_CONTEXT;
  s.retryCount = 0;
  const set: ShadowCopySet = {
    id: env.newId().toLowerCase(),
    status: "Started",
    context: MANAGED_BACKUP_CONTEXT,
    createdAt: env.now,
    client,
    backup: next.backup,
    requested: next.shares,
    onWriterError: next.onWriterError ?? "fail",
    shadowCopies: [],
    snapshots: [],
  };
  s.sets.push(set);
  armTimer(s, env.timers.shortMs, env);
  beginStep(set, "resolve", env);
  return {
    hresult: HRESULT.ZERO,
    record: s,
    effects: [
      { kind: "started", setId: set.id },
      { kind: "command", setId: set.id },
    ],
  };
}

function failure(step: StepName | "removal", reason: string, code: ErrorCode, env: Env): StepFailure {
  return { step, reason, code, at: env.now };
}

/** Aborts a managed set with a reason; the SVM may then serve its queue. */
function abortManaged(record: SvmRecord, setId: string, reason: string, code: ErrorCode, env: Env): ReportOutcome {
  const s = draft(record);
  const set = findSet(s, setId)!;
  const effects = removeSet(s, set, "aborted", reason, code, env);
  // Release the context only if this set still holds it (a Recovered set released it already).
  if (s.clientAddress === set.client && set.status !== "Recovered") {
    s.contextSet = false;
    s.clientAddress = null;
    s.timer = null;
  }
  return { record: s, effects, applied: true };
}

/** Applies a phase's report to the SVM's record. */
export function applyReport(record: SvmRecord, report: StepReport, env: Env): ReportOutcome {
  const set = findSet(record, report.setId);
  if (report.type === "shadowCopiesDeleted" || (report.type === "stepFailed" && report.step === "removal")) {
    if (report.type === "shadowCopiesDeleted" && set?.pending?.kind === "finalize" && !set.copiesRemoved) {
      return finalizeProgress(record, set.id, (x) => (x.copiesRemoved = true), env);
    }
    const out =
      report.type === "shadowCopiesDeleted" ? removalConfirmed(record, report) : removalFailed(record, report, env);
    const waited =
      report.type === "shadowCopiesDeleted"
        ? waitedStepEnded(out.record, { setId: report.setId, report: report.type })
        : out;
    const effects = [...out.effects, ...(waited === out ? [] : waited.effects)];
    return { record: waited.record, effects, applied: waited.record !== record || effects.length > 0 };
  }
  // A report for a set the record no longer holds is late or repeated (a command delivered again
  // after its set ended), or ends a step its removal waits for. A late one changes nothing: storage
  // it made is in no record, so the reconciler removes it as an orphan.
  if (!set) {
    const out = waitedStepEnded(
      record,
      report.type === "stepFailed"
        ? { setId: report.setId, failed: report.step }
        : { setId: report.setId, report: report.type },
    );
    return { record: out.record, effects: out.effects, applied: out.record !== record };
  }
  if (report.type === "stepFailed") return stepFailed(record, set, report, env);
  if (report.type === "writersThawed") return writersThawed(record, set, report.reports, env);
  if (!set.pending || !stepsReportedBy(report.type).includes(set.pending.kind)) return same(record);
  const id = set.id;
  switch (report.type) {
    case "sharesResolved":
      return sharesResolved(record, set, report.shares, env);
    case "writersCheckpointed": {
      const recorded = recordWriters(
        record,
        id,
        report.reports,
        report.reports.map((r) => r.writerId),
      );
      const failed = writerFailure(set, report.reports);
      if (failed) return abortManaged(recorded, id, failed, ErrorCodes.WRITER_FAILED, env);
      const prepared = prepareShadowCopySet(recorded, { shadowCopySetId: id }, env);
      return chain([prepared, commitBegin(prepared.record, { shadowCopySetId: id }, env)]);
    }
    case "shadowCopiesCreated": {
      if (!isManaged(set))
        return workDone(
          record,
          storageWorkDone(record, { shadowCopySetId: id, step: "create", copies: report.copies }, env),
        );
      const committed = commitCompleted(record, { shadowCopySetId: id, copies: report.copies }, env);
      const exposing = chain([committed, exposeBegin(committed.record, { shadowCopySetId: id }, env)]);
      const writers = set.writers ?? [];
      return writers.length > 0
        ? { ...exposing, effects: [...exposing.effects, { kind: "thaw", setId: id, writers }] }
        : exposing;
    }
    case "shadowCopiesExposed": {
      if (!isManaged(set))
        return workDone(
          record,
          storageWorkDone(record, { shadowCopySetId: id, step: "expose", copies: report.copies }, env),
        );
      const exposed = exposeCompleted(record, { shadowCopySetId: id, copies: report.copies }, env);
      // No writer took the checkpoint: nobody to auto-recover, so the set is sealed right away.
      if ((set.writers ?? []).length === 0) return beginFinalize(exposed.record, id, env);
      const s = exposed.record;
      beginStep(findSet(s, id)!, "auto_recover", env);
      return { record: s, effects: [...exposed.effects, { kind: "command", setId: id }], applied: true };
    }
    case "writersRecovered": {
      const recorded = recordWriters(record, id, report.reports);
      const failed = writerFailure(set, report.reports);
      if (failed) return abortManaged(recorded, id, failed, ErrorCodes.WRITER_FAILED, env);
      return beginFinalize(recorded, id, env);
    }
    case "shadowCopiesSealed": {
      if (!isManaged(set)) return workDone(record, storageWorkDone(record, { shadowCopySetId: id, step: "seal" }, env));
      const recovered = recoveryCompleted(record, { shadowCopySetId: id });
      return finalizeProgress(recovered.record, id, () => undefined, env);
    }
    case "snapshotTaken": {
      const snap = set.snapshots.find((x) => x.volume === report.volume && x.name === report.name);
      if (!snap || snap.takenAt !== undefined) return same(record);
      return finalizeProgress(
        record,
        id,
        (x) => {
          const taken = x.snapshots.find((y) => y.volume === report.volume && y.name === report.name)!;
          taken.takenAt = report.takenAt;
          if (report.noChecksums) taken.noChecksums = true;
        },
        env,
      );
    }
  }
}

/**
 * RecoveryComplete for a managed set: the FSRVP operation, then one finalize command that seals the
 * copies, takes one snapshot per volume holding shares of the set, and removes the copies.
 */
function beginFinalize(record: SvmRecord, id: string, env: Env): ReportOutcome {
  const begun = recoveryCompleteBegin(record, { shadowCopySetId: id }, env);
  const s = begun.record === record ? draft(record) : begun.record;
  const set = findSet(s, id)!;
  const name = snapshotName(set.backup!.backupId, id, env.now);
  set.snapshots = plannedSnapshots(set, () => name);
  beginStep(set, "finalize", env);
  return { record: s, effects: [{ kind: "command", setId: id }], applied: true };
}

/**
 * Records one result of the finalize work (they may arrive in any order) and completes the set once
 * it is sealed (Recovered), every snapshot is taken and the copies are gone.
 */
function finalizeProgress(record: SvmRecord, id: string, apply: (set: ShadowCopySet) => void, env: Env): ReportOutcome {
  const s = draft(record);
  const set = findSet(s, id)!;
  apply(set);
  const done =
    set.status === "Recovered" && set.copiesRemoved === true && set.snapshots.every((x) => x.takenAt !== undefined);
  if (!done) return { record: s, effects: [], applied: true };
  s.sets = s.sets.filter((x) => x.id !== id);
  return { record: s, effects: [{ kind: "finished", entry: completedEntry(set, env) }], applied: true };
}

/**
 * Finalize failed for good after the backup was taken (sealed, every snapshot on storage): only the
 * removal of the copies failed. That does not undo the backup: the set waits among the pending
 * ones, completed, with the failure, and ends once a new attempt (the reconciler's) removes them.
 */
function removalFailedAfterBackup(record: SvmRecord, set: ShadowCopySet, f: StepFailure, env: Env): ReportOutcome {
  const s = draft(record);
  s.sets = s.sets.filter((x) => x.id !== set.id);
  s.removals.push({ ...completedEntry(set, env), deletedCopies: [], failure: { ...f, step: "removal" } });
  return { record: s, effects: [], applied: true };
}

function completedEntry(set: ShadowCopySet, env: Env): PendingRemoval {
  return removalEntry(
    set,
    {
      outcome: "completed",
      reason: "backup taken",
      code: "",
      shadowCopies: set.shadowCopies,
      snapshots: set.snapshots,
      deletedCopies: set.shadowCopies.map((c) => c.id),
    },
    env,
  );
}

/** Appends writer answers to the set (and, at checkpoint, records who took part). */
function recordWriters(record: SvmRecord, setId: string, reports: WriterStepRecord[], writers?: string[]): SvmRecord {
  if (reports.length === 0 && !writers) return record;
  const s = draft(record);
  const set = findSet(s, setId)!;
  set.writerSteps = [...(set.writerSteps ?? []), ...reports];
  if (writers) set.writers = writers;
  return s;
}

/** The abort reason when a writer failed and the set's policy is to fail; null to go on. */
function writerFailure(set: ShadowCopySet, reports: WriterStepRecord[]): string | null {
  const bad = reports.filter((r) => !r.ok);
  if (bad.length === 0 || set.onWriterError === "continue") return null;
  return bad
    .map((r) => `writer "${r.name}" (${r.writerId}) failed to ${r.step.replace("_", "-")}: ${r.reason}`)
    .join("; ");
}

/**
 * The writers resumed (or failed to). Not a step the set waits for: it goes on exposing meanwhile.
 * Under the `fail` policy a failure aborts the set unless it is already sealed.
 */
function writersThawed(record: SvmRecord, set: ShadowCopySet, reports: WriterStepRecord[], env: Env): ReportOutcome {
  if ((set.writerSteps ?? []).some((r) => r.step === "thaw")) return same(record);
  const recorded = recordWriters(record, set.id, reports);
  const failed = writerFailure(set, reports);
  if (failed && set.status !== "Recovered")
    return abortManaged(recorded, set.id, failed, ErrorCodes.WRITER_FAILED, env);
  return { record: recorded, effects: [], applied: true };
}

function sharesResolved(record: SvmRecord, set: ShadowCopySet, shares: ResolvedShareInfo[], env: Env): ReportOutcome {
  let s = record;
  const ids: string[] = [];
  for (const share of shares) {
    const out = addToShadowCopySet(
      s,
      {
        shadowCopySetId: set.id,
        shareNameUnc: formatUnc(s.svm, share.share),
        lookup: { kind: "found", share: share.share, volume: share.volume, sharePath: share.sharePath },
        files: share.files,
      },
      env,
    );
    if (out.hresult !== HRESULT.ZERO) {
      return abortManaged(s, set.id, `share "${share.share}" could not be added to the set`, ErrorCodes.FSRVP, env);
    }
    ids.push(out.value!.shadowCopyId);
    s = out.record;
  }
  const next = s === record ? draft(s) : s;
  beginStep(findSet(next, set.id)!, "checkpoint", env);
  return {
    record: next,
    effects: [
      { kind: "added", setId: set.id, shadowCopyIds: ids },
      { kind: "command", setId: set.id },
    ],
    applied: true,
  };
}

function stepFailed(
  record: SvmRecord,
  set: ShadowCopySet,
  report: Extract<StepReport, { type: "stepFailed" }>,
  env: Env,
): ReportOutcome {
  if (report.step !== set.pending?.kind) return same(record);
  const f = failure(report.step, report.reason, report.code, env);
  const taken = set.status === "Recovered" && set.snapshots.every((x) => x.takenAt !== undefined);
  if (report.step === "finalize" && taken) return removalFailedAfterBackup(record, set, f, env);
  // The failure ended the step: nothing of it is still running for the removal to wait for.
  if (isManaged(set)) {
    const ended = draft(record);
    delete findSet(ended, set.id)!.pending;
    return abortManaged(ended, set.id, report.reason, report.code, env);
  }
  switch (report.step) {
    case "create":
      return chain([commitFailed(record, { shadowCopySetId: set.id, failure: f }, env)]);
    case "expose":
    case "seal":
      return chain([storageStepFailed(record, { shadowCopySetId: set.id, failure: f }, env)]);
    default:
      return same(record);
  }
}

/**
 * Cancels a backup's set on this SVM: a queued one leaves the queue, a running one is aborted
 * (its storage removed). Either way the backup learns of it through a `finished` effect.
 */
export function cancelManagedSet(record: SvmRecord, link: BackupLink, env: Env): Outcome {
  const reason = "the backup was cancelled";
  if (record.queue.some((q) => sameLink(q.backup, link))) {
    const s = draft(record);
    s.queue = s.queue.filter((q) => !sameLink(q.backup, link));
    // The set never started: no ID, nothing on storage.
    const entry = removalEntry(
      { id: "", backup: link },
      { outcome: "aborted", reason, code: ErrorCodes.CANCELLED, shadowCopies: [], snapshots: [] },
      env,
    );
    return { hresult: HRESULT.ZERO, record: s, effects: [{ kind: "finished", entry }] };
  }
  const set = record.sets.find((x) => x.backup && sameLink(x.backup, link));
  if (!set) return { hresult: HRESULT.ZERO, record, effects: [] };
  const out = abortManaged(record, set.id, reason, ErrorCodes.CANCELLED, env);
  return { hresult: HRESULT.ZERO, record: out.record, effects: out.effects };
}

/** The snapshots of a set, one per volume holding its shares, in volume order. */
function plannedSnapshots(set: ShadowCopySet, name: (volume: string) => string): SetSnapshot[] {
  const volumes = new Map<string, string[]>();
  for (const c of set.shadowCopies) volumes.set(c.volume, [...(volumes.get(c.volume) ?? []), c.id]);
  return [...volumes.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([volume, ids]) => ({ volume, name: name(volume), shadowCopyIds: ids }));
}
