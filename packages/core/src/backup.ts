/**
 * Managed backups as pure data: a dataset is checked and planned into shadow copy sets (one SVM
 * each, at most 64 shares), and the backup's state follows from how its sets end.
 */
import { ErrorCodes, RvssError, invalidArgument, type ErrorCode } from "./errors";
import { checkSelectionFiles, type VmFileList } from "./file-list";
import type { RequestedShare, OnWriterError, WriterStepRecord } from "./fsrvp/types";
import { namedVms, vmsSplitAcrossShares } from "./layout";
import { expiresAt, type Retention } from "./retention";
import { svmNameProblem } from "./naming";
import type { SnapshotVerificationRecord } from "./verification";

/** Microsoft's limit of shares per shadow copy set. */
export const MAX_SHARES_PER_SET = 64;

export interface DatasetShare {
  svm: string;
  share: string;
  files: string[];
  /** The VMs of the share and their files, when the requestor names them (see layout.ts). */
  vms?: VmFileList[];
}

/** Deleting and Deleted follow a final state: the snapshots are being removed, then are gone (the record stays). */
export type BackupStateName =
  "Running" | "Completed" | "PartiallyFailed" | "Failed" | "Cancelled" | "Deleting" | "Deleted";
export interface BackupShadowCopy {
  id: string;
  share: string;
  clonePath: string;
  files: string[];
  fileCount: number;
  bytes: number;
}

export interface BackupSnapshot {
  svm: string;
  volume: string;
  name: string;
  takenAt: number;
  setId: string;
  shadowCopies: BackupShadowCopy[];
  /** Its restore verification as last reported (kept apart from the set's result); none yet: pending. */
  verification?: SnapshotVerificationRecord;
}

/** One planned set of a backup: the shares of one SVM (fixed when the backup is created). */
export interface PlannedSet {
  index: number;
  svm: string;
  shares: RequestedShare[];
}

/** A backup's plan, stored once and never changed (so it can be cached and large). */
export interface BackupPlan {
  id: string;
  description: string;
  /** The caller's idempotency key, if it gave one. */
  requestId?: string;
  createdAt: number;
  onWriterError: OnWriterError;
  dataset: DatasetShare[];
  sets: PlannedSet[];
  /** The user's name for it (unique), if given. */
  name?: string;
  labels?: Record<string, string>;
  /** The schedule that made it. */
  schedule?: string;
  retention?: Retention;
  /** When the collector deletes it (creation time + ttl). */
  expiresAt?: number;
}

/** How one set of a backup ended, stored once per set. */
export interface SetResult {
  index: number;
  setId?: string;
  outcome: "completed" | "aborted";
  reason?: string;
  code?: ErrorCode;
  snapshots: BackupSnapshot[];
  /** What the set's application writers answered, in order. */
  writerSteps?: WriterStepRecord[];
  finishedAt: number;
}

/**
 * A backup's state, small and changed by compare-and-set as its sets end: it holds no per-set
 * details (those are SetResults), only which sets ended how and the problems to report.
 */
export interface BackupStatus {
  state: BackupStateName;
  reason?: string;
  updatedAt: number;
  finishedAt?: number;
  cancelRequested?: boolean;
  /** Plan index -> how it ended ("partial": completed, but a writer failed under `continue`). */
  ended: Record<string, "completed" | "partial" | "failed">;
  /** What went wrong, by plan index, for the reason of the backup. */
  problems: { index: number; text: string }[];
  snapshotsTaken: number;
  /** Set once its deletion was asked for (see deletion.ts). */
  deletion?: Deletion;
}

/** A deletion under way or done: which SVMs still hold the backup's snapshots. */
export interface Deletion {
  requestedAt: number;
  /** Why: on request, or the collector's verdict. */
  reason: string;
  byCollector?: boolean;
  /** The state it had before. */
  was: BackupStateName;
  /** SVMs whose snapshots are not confirmed gone yet. */
  pending: string[];
  deletedAt?: number;
}

/** Where a planned set stands: "queued" until it ends (while it runs, its SVM's record tells how far it got). */
export type PlanPhase = "queued" | "completed" | "failed";

/** A planned set with how it stands, for views. */
export interface BackupSetView extends PlannedSet {
  phase: PlanPhase;
  setId?: string;
  reason?: string;
  code?: ErrorCode;
  snapshots: BackupSnapshot[];
  writerSteps?: WriterStepRecord[];
  finishedAt?: number;
}

/** A backup as people see it: plan, state and the results of the sets that ended. */
export interface BackupRecord
  extends Omit<BackupPlan, "sets">, Omit<BackupStatus, "ended" | "problems" | "snapshotsTaken"> {
  sets: BackupSetView[];
}

/**
 * Checks a dataset and returns it normalised. Everything that can never work is rejected here,
 * naming the item; what needs the storage (unknown shares, missing files) is found by share-discovery.
 */
export function checkDataset(items: readonly DatasetShare[]): DatasetShare[] {
  const dataset = checkDatasetShares(items).map(({ svm, share, files: rawFiles, vms: rawVms }) => {
    const { files, problems, vms } = checkSelectionFiles(rawFiles, rawVms ?? []);
    if (problems.length > 0) {
      const p = problems[0]!;
      const more =
        problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})` : "";
      throw invalidArgument(`${p.message} in share "${share}" of SVM "${svm}"${more}`, {
        svm,
        share,
        path: p.path,
        rule: p.rule,
      });
    }
    // `files` holds the VMs' files too; the plan keeps them apart, as the requestor gave them, so
    // that share-discovery, which checks the selection again, does not see them listed twice.
    const own = files.filter((f) => !vms.some((vm) => vm.files.includes(f)));
    return { svm, share, files: own, ...(vms.length > 0 ? { vms } : {}) };
  });
  // Rule 2 for the VMs the requestor named is known now; VMs found by walking are checked per set.
  const split = vmsSplitAcrossShares(dataset.map((d) => ({ svm: d.svm, share: d.share, vms: namedVms(d.vms ?? []) })));
  if (split.length > 0) {
    const v = split[0]!;
    throw new RvssError(ErrorCodes.LAYOUT_UNSUPPORTED, v.message, {
      svm: v.svm,
      share: v.share,
      path: v.path,
      rule: v.rule,
    });
  }
  return dataset;
}

/**
 * Checks that each item names an SVM and a share, and no share twice; returns them trimmed. Backups
 * and preflight both start here; preflight reports file-list problems instead of refusing them.
 */
export function checkDatasetShares<T extends { svm: string; share: string }>(items: readonly T[]): T[] {
  if (items.length === 0) throw invalidArgument("the dataset is empty: name at least one share (svm and share)");
  const seen = new Set<string>();
  return items.map((item, i) => {
    const svm = item.svm.trim();
    const share = item.share.trim();
    if (svm === "") throw invalidArgument(`dataset item ${i + 1} has no svm`, { share });
    const badSvm = svmNameProblem(svm);
    if (badSvm) throw invalidArgument(`dataset item ${i + 1}: ${badSvm}`, { share });
    if (share === "") throw invalidArgument(`dataset item ${i + 1} (svm "${svm}") has no share`, { svm });
    if (/[\\/\0]/.test(share))
      throw invalidArgument(`share name "${share}" contains a path separator or NUL byte`, { svm, share });
    const key = `${svm}\0${share.toLowerCase()}`;
    if (seen.has(key))
      throw invalidArgument(`share "${share}" of SVM "${svm}" is listed twice in the dataset`, { svm, share });
    seen.add(key);
    return { ...item, svm, share };
  });
}

/**
 * One set per SVM, split every 64 shares. Sets are ordered round-robin across SVMs (every SVM's first
 * set, then every second set, ...) so that released in plan order they spread over the SVMs.
 */
export function planSets(dataset: readonly DatasetShare[], maxShares = MAX_SHARES_PER_SET): PlannedSet[] {
  const bySvm = new Map<string, RequestedShare[]>();
  for (const item of dataset) {
    const shares = bySvm.get(item.svm) ?? [];
    shares.push({ share: item.share, files: item.files, ...(item.vms ? { vms: item.vms } : {}) });
    bySvm.set(item.svm, shares);
  }
  const chunks = [...bySvm].map(([svm, shares]) => {
    const out: { svm: string; shares: RequestedShare[] }[] = [];
    for (let i = 0; i < shares.length; i += maxShares) out.push({ svm, shares: shares.slice(i, i + maxShares) });
    return out;
  });
  const sets: PlannedSet[] = [];
  for (let round = 0; chunks.some((c) => round < c.length); round++) {
    for (const c of chunks) {
      const chunk = c[round];
      if (chunk) sets.push({ index: sets.length, svm: chunk.svm, shares: chunk.shares });
    }
  }
  return sets;
}

export function newBackup(req: {
  id: string;
  dataset: DatasetShare[];
  description?: string;
  requestId?: string;
  onWriterError?: OnWriterError;
  name?: string;
  labels?: Record<string, string>;
  schedule?: string;
  retention?: Retention;
  now: number;
}): {
  plan: BackupPlan;
  status: BackupStatus;
} {
  return {
    plan: {
      id: req.id,
      description: req.description ?? "",
      ...(req.requestId ? { requestId: req.requestId } : {}),
      createdAt: req.now,
      onWriterError: req.onWriterError ?? "fail",
      dataset: req.dataset,
      sets: planSets(req.dataset),
      ...(req.name ? { name: req.name } : {}),
      ...(req.labels && Object.keys(req.labels).length > 0 ? { labels: req.labels } : {}),
      ...(req.schedule ? { schedule: req.schedule } : {}),
      ...(req.retention && Object.keys(req.retention).length > 0 ? { retention: req.retention } : {}),
      ...(req.retention?.ttl ? { expiresAt: expiresAt(req.retention, req.now) } : {}),
    },
    status: { state: "Running", updatedAt: req.now, ended: {}, problems: [], snapshotsTaken: 0 },
  };
}

export function isFinal(state: BackupStateName): boolean {
  return state !== "Running";
}

function writerProblems(steps: WriterStepRecord[]): string {
  return steps
    .filter((w) => !w.ok)
    .map((w) => `writer "${w.name}" (${w.writerId}) failed to ${w.step.replace("_", "-")}: ${w.reason}`)
    .join("; ");
}

/** A set ended; when every set has, the backup ends too. Counting the same set twice changes nothing. */
export function recordSetEnd(status: BackupStatus, plan: BackupPlan, result: SetResult, now: number): BackupStatus {
  const set = plan.sets[result.index];
  if (!set || status.ended[result.index] !== undefined) return status;
  const writerTrouble = result.outcome === "completed" && (result.writerSteps ?? []).some((w) => !w.ok);
  const how = result.outcome === "aborted" ? "failed" : writerTrouble ? "partial" : "completed";
  const text =
    how === "failed"
      ? `SVM "${set.svm}": ${result.reason ?? "failed"}`
      : how === "partial"
        ? `SVM "${set.svm}": ${writerProblems(result.writerSteps!)}`
        : null;
  const next: BackupStatus = {
    ...status,
    updatedAt: now,
    ended: { ...status.ended, [result.index]: how },
    problems: text
      ? [...status.problems, { index: result.index, text }].sort((a, b) => a.index - b.index)
      : status.problems,
    snapshotsTaken: status.snapshotsTaken + result.snapshots.length,
  };
  return settle(next, plan.sets.length, now);
}

function settle(s: BackupStatus, total: number, now: number): BackupStatus {
  const outcomes = Object.values(s.ended);
  if (outcomes.length < total) return s;
  const failed = outcomes.filter((o) => o === "failed").length;
  const next = { ...s, finishedAt: now };
  if (s.cancelRequested) return { ...next, state: "Cancelled", reason: "cancelled on request" };
  if (s.problems.length === 0) {
    delete next.reason;
    return { ...next, state: "Completed" };
  }
  return {
    ...next,
    state: failed === total ? "Failed" : "PartiallyFailed",
    reason: s.problems.map((p) => p.text).join("; "),
  };
}

export function markCancelRequested(s: BackupStatus, now: number): BackupStatus {
  if (s.cancelRequested || isFinal(s.state)) return s;
  return { ...s, cancelRequested: true, updatedAt: now };
}

/**
 * The backup as people see it, from its plan, its status, the results of its ended sets and the
 * verifications of their snapshots.
 */
export function assembleBackup(
  plan: BackupPlan,
  status: BackupStatus,
  results: ReadonlyMap<number, SetResult>,
  verifications: readonly SnapshotVerificationRecord[] = [],
): BackupRecord {
  const verified = new Map(verifications.map((v) => [`${v.volume}/${v.name}`, v]));
  const withVerification = (x: BackupSnapshot): BackupSnapshot => {
    const v = verified.get(`${x.volume}/${x.name}`);
    return v ? { ...x, verification: v } : x;
  };
  const { sets, ...rest } = plan;
  const { ended: _ended, problems: _problems, snapshotsTaken: _taken, ...state } = status;
  return {
    ...rest,
    ...state,
    sets: sets.map((p): BackupSetView => {
      const r = results.get(p.index);
      const how = status.ended[p.index];
      const view: BackupSetView = {
        ...p,
        phase: how === undefined ? "queued" : how === "failed" ? "failed" : "completed",
        snapshots: (r?.snapshots ?? []).map(withVerification),
      };
      if (r?.setId) view.setId = r.setId;
      if (r?.outcome === "aborted") {
        if (r.reason) view.reason = r.reason;
        if (r.code) view.code = r.code;
      }
      if (r?.writerSteps?.length) view.writerSteps = r.writerSteps;
      if (r) view.finishedAt = r.finishedAt;
      return view;
    }),
  };
}

export interface BackupCounts {
  setsPlanned: number;
  setsCompleted: number;
  setsFailed: number;
  snapshotsTaken: number;
}

export function progressOf(b: BackupRecord): BackupCounts {
  return {
    setsPlanned: b.sets.length,
    setsCompleted: b.sets.filter((s) => s.phase === "completed").length,
    setsFailed: b.sets.filter((s) => s.phase === "failed").length,
    snapshotsTaken: b.sets.reduce((n, s) => n + s.snapshots.length, 0),
  };
}

/** Every snapshot the backup holds, in plan order. */
export function snapshotsOf(b: BackupRecord): BackupSnapshot[] {
  return b.sets.flatMap((s) => s.snapshots);
}
