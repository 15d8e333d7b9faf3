/**
 * Backup and restore figures per SVM, derived from the durable records (as Velero recomputes its
 * gauges from the stored backups): every coordinator replica computes the same figures, and a
 * restart loses none.
 */
import type { BackupPlan, BackupStatus } from "./backup";

/** How the sets of one SVM in one backup ended, Velero's words. */
export type SvmOutcome = "running" | "success" | "partial_failure" | "failure";

/** The figures of one SVM for backups of one schedule ("" for backups nobody scheduled), as Velero labels them. */
export interface BackupFigures {
  svm: string;
  schedule: string;
  attempts: number;
  successes: number;
  failures: number;
  partialFailures: number;
  /** Seconds from the backup's creation to its end, one per ended backup that held the SVM. */
  durations: number[];
  /** When a backup that held the SVM last succeeded for it (ms), or null. */
  lastSuccessAt: number | null;
  /** 1 when the SVM's part of its latest ended backup succeeded, 0 when not, null before any ended. */
  lastStatus: 0 | 1 | null;
}

/** Per SVM of the plan: running until the backup ends; then success only when every set completed. */
export function svmOutcomes(plan: BackupPlan, status: BackupStatus): Map<string, SvmOutcome> {
  const ends = new Map<string, Array<"completed" | "partial" | "failed">>();
  for (const set of plan.sets) {
    const list = ends.get(set.svm) ?? [];
    // A set of an ended backup that never ended itself did not back anything up.
    list.push(status.ended[set.index] ?? "failed");
    ends.set(set.svm, list);
  }
  const out = new Map<string, SvmOutcome>();
  for (const [svm, list] of ends) {
    if (status.state === "Running") out.set(svm, "running");
    else if (list.every((e) => e === "completed")) out.set(svm, "success");
    else if (list.every((e) => e === "failed")) out.set(svm, "failure");
    else out.set(svm, "partial_failure");
  }
  return out;
}

function emptyBackupFigures(svm: string, schedule: string): BackupFigures {
  return {
    svm,
    schedule,
    attempts: 0,
    successes: 0,
    failures: 0,
    partialFailures: 0,
    durations: [],
    lastSuccessAt: null,
    lastStatus: null,
  };
}

/** The key of one SVM and schedule's figures in the map `backupFigures` returns. */
export function figuresKey(svm: string, schedule = ""): string {
  return `${svm}\u0000${schedule}`;
}

export function backupFigures(backups: { plan: BackupPlan; status: BackupStatus }[]): Map<string, BackupFigures> {
  const out = new Map<string, BackupFigures>();
  const lastEnded = new Map<string, number>();
  for (const { plan, status } of backups) {
    const schedule = plan.schedule ?? "";
    for (const [svm, outcome] of svmOutcomes(plan, status)) {
      const key = figuresKey(svm, schedule);
      const f = out.get(key) ?? emptyBackupFigures(svm, schedule);
      out.set(key, f);
      f.attempts++;
      if (outcome === "running") continue;
      const endedAt = status.finishedAt ?? status.updatedAt;
      f.durations.push(Math.max(0, endedAt - plan.createdAt) / 1000);
      if (outcome === "success") {
        f.successes++;
        f.lastSuccessAt = Math.max(f.lastSuccessAt ?? 0, endedAt);
      } else if (outcome === "failure") f.failures++;
      else f.partialFailures++;
      if (endedAt >= (lastEnded.get(key) ?? -Infinity)) {
        lastEnded.set(key, endedAt);
        f.lastStatus = outcome === "success" ? 1 : 0;
      }
    }
  }
  return out;
}

/** The parts of a restore record the figures need. */
export interface RestoreRun {
  svm: string;
  state: "running" | "completed" | "failed";
  createdAt: number;
  finishedAt?: number;
}

export interface RestoreFigures {
  attempts: number;
  successes: number;
  failures: number;
  /** Seconds from request to end, one per ended restore. */
  durations: number[];
}

export function restoreFigures(restores: RestoreRun[]): Map<string, RestoreFigures> {
  const out = new Map<string, RestoreFigures>();
  for (const r of restores) {
    const f = out.get(r.svm) ?? { attempts: 0, successes: 0, failures: 0, durations: [] };
    out.set(r.svm, f);
    f.attempts++;
    if (r.state === "running") continue;
    if (r.state === "completed") f.successes++;
    else f.failures++;
    f.durations.push(Math.max(0, (r.finishedAt ?? r.createdAt) - r.createdAt) / 1000);
  }
  return out;
}
