/**
 * Managed backups as pure data: a dataset is checked and planned into shadow copy sets (one SVM
 * each, at most 64 shares), and the backup's state follows from how its sets end.
 */
import { ErrorCodes, RvssError, invalidArgument } from "./errors";
import { checkSelectionFiles, type VmFiles } from "./file-list";
import type { RequestedShare, WriterErrorPolicy, WriterStepRecord } from "./fsrvp/types";
import { namedVms, vmsSplitAcrossShares } from "./layout";

/** Microsoft's limit of shares per shadow copy set. */
export const MAX_SHARES_PER_SET = 64;

export interface ShareSelection {
  svm: string;
  share: string;
  files: string[];
  /** The VMs of the share and their files, when the requestor names them (see layout.ts). */
  vms?: VmFiles[];
}

export type BackupState = "Running" | "Completed" | "PartiallyFailed" | "Failed" | "Cancelled";
/** Where a planned set stands in the record: "queued" until it ends (while it runs, its SVM's record tells how far it got). */
export type PlanPhase = "queued" | "completed" | "failed";

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
}

export interface PlannedSet {
  index: number;
  svm: string;
  shares: RequestedShare[];
  setId?: string;
  phase: PlanPhase;
  reason?: string;
  code?: string;
  snapshots: BackupSnapshot[];
  /** What the set's application writers answered, in order. */
  writerSteps?: WriterStepRecord[];
  finishedAt?: number;
}

export interface BackupRecord {
  id: string;
  description: string;
  /** The caller's idempotency key, if it gave one. */
  requestId?: string;
  createdAt: number;
  updatedAt: number;
  finishedAt?: number;
  state: BackupState;
  reason?: string;
  cancelRequested?: boolean;
  onWriterError: WriterErrorPolicy;
  dataset: ShareSelection[];
  sets: PlannedSet[];
}

/**
 * Checks a dataset and returns it normalised. Everything that can never work is rejected here,
 * naming the item; what needs the storage (unknown shares, missing files) is found by share-discovery.
 */
export function checkDataset(items: readonly ShareSelection[]): ShareSelection[] {
  const dataset = checkDatasetShares(items).map(({ svm, share, files: rawFiles, vms: rawVms }) => {
    const { files, problems, vms } = checkSelectionFiles(rawFiles, rawVms ?? []);
    if (problems.length > 0) {
      const p = problems[0]!;
      const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? "s" : ""})` : "";
      throw invalidArgument(`${p.message} in share "${share}" of SVM "${svm}"${more}`, { svm, share, path: p.path, rule: p.rule });
    }
    return { svm, share, files, ...(vms.length > 0 ? { vms } : {}) };
  });
  // Rule 2 for the VMs the requestor named is known now; VMs found by walking are checked per set.
  const split = vmsSplitAcrossShares(dataset.map((d) => ({ svm: d.svm, share: d.share, vms: namedVms(d.vms ?? []) })));
  if (split.length > 0) {
    const v = split[0]!;
    throw new RvssError(ErrorCodes.LAYOUT_UNSUPPORTED, v.message, { svm: v.svm, share: v.share, path: v.path, rule: v.rule });
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
    if (share === "") throw invalidArgument(`dataset item ${i + 1} (svm "${svm}") has no share`, { svm });
    if (/[\\/\0]/.test(share)) throw invalidArgument(`share name "${share}" contains a path separator or NUL byte`, { svm, share });
    const key = `${svm}\0${share.toLowerCase()}`;
    if (seen.has(key)) throw invalidArgument(`share "${share}" of SVM "${svm}" is listed twice in the dataset`, { svm, share });
    seen.add(key);
    return { ...item, svm, share };
  });
}

/**
 * One set per SVM, split every 64 shares. Sets are ordered round-robin across SVMs (every SVM's first
 * set, then every second set, ...) so that released in plan order they spread over the SVMs.
 */
export function planSets(dataset: readonly ShareSelection[], maxShares = MAX_SHARES_PER_SET): PlannedSet[] {
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
      if (chunk) sets.push({ index: sets.length, svm: chunk.svm, shares: chunk.shares, phase: "queued", snapshots: [] });
    }
  }
  return sets;
}

export function newBackup(req: { id: string; dataset: ShareSelection[]; description?: string; requestId?: string; onWriterError?: WriterErrorPolicy; now: number }): BackupRecord {
  return {
    id: req.id,
    description: req.description ?? "",
    ...(req.requestId ? { requestId: req.requestId } : {}),
    createdAt: req.now,
    updatedAt: req.now,
    state: "Running",
    onWriterError: req.onWriterError ?? "fail",
    dataset: req.dataset,
    sets: planSets(req.dataset),
  };
}

export function isFinal(state: BackupState): boolean {
  return state !== "Running";
}

export interface SetEnd {
  index: number;
  setId?: string;
  outcome: "completed" | "aborted";
  reason?: string;
  code?: string;
  snapshots: BackupSnapshot[];
  writerSteps?: WriterStepRecord[];
}

/** A set ended; when every set has, the backup ends too (idempotent). */
export function markSetFinished(b: BackupRecord, end: SetEnd, now: number): BackupRecord {
  const entry = b.sets[end.index];
  if (!entry || entry.phase === "completed" || entry.phase === "failed") return b;
  const next = structuredClone(b);
  const e = next.sets[end.index]!;
  e.phase = end.outcome === "completed" ? "completed" : "failed";
  if (end.setId) e.setId = end.setId;
  if (end.reason && end.outcome === "aborted") e.reason = end.reason;
  if (end.code && end.outcome === "aborted") e.code = end.code;
  e.snapshots = end.snapshots;
  if (end.writerSteps?.length) e.writerSteps = end.writerSteps;
  e.finishedAt = now;
  next.updatedAt = now;
  return settle(next, now);
}

function settle(b: BackupRecord, now: number): BackupRecord {
  if (b.sets.some((s) => s.phase === "queued")) return b;
  const failed = b.sets.filter((s) => s.phase === "failed");
  const writerTrouble = b.sets.filter((s) => s.phase === "completed" && (s.writerSteps ?? []).some((w) => !w.ok));
  const problems = [
    ...failed.map((s) => `SVM "${s.svm}": ${s.reason ?? "failed"}`),
    ...writerTrouble.map((s) => `SVM "${s.svm}": ${writerProblems(s.writerSteps!)}`),
  ];
  if (b.cancelRequested) {
    b.state = "Cancelled";
    b.reason = "cancelled on request";
  } else if (problems.length === 0) {
    b.state = "Completed";
    delete b.reason;
  } else {
    b.state = failed.length === b.sets.length ? "Failed" : "PartiallyFailed";
    b.reason = problems.join("; ");
  }
  b.finishedAt = now;
  return b;
}

function writerProblems(steps: WriterStepRecord[]): string {
  return steps
    .filter((w) => !w.ok)
    .map((w) => `writer "${w.name}" (${w.writerId}) failed to ${w.step.replace("_", "-")}: ${w.reason}`)
    .join("; ");
}

export function markCancelRequested(b: BackupRecord, now: number): BackupRecord {
  if (b.cancelRequested || isFinal(b.state)) return b;
  const next = structuredClone(b);
  next.cancelRequested = true;
  next.updatedAt = now;
  return next;
}

export interface BackupProgress {
  setsPlanned: number;
  setsCompleted: number;
  setsFailed: number;
  snapshotsTaken: number;
}

export function progressOf(b: BackupRecord): BackupProgress {
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
