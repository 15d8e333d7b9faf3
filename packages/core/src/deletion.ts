/**
 * Deleting a backup: its status records which SVMs still hold its snapshots, so a deletion that a
 * crash interrupted goes on from the record; each SVM's confirmation is applied once.
 */
import { ErrorCodes, RvssError } from "./errors";
import type { BackupSnapshot, BackupStatus } from "./backup";

/**
 * Marks a backup Deleting, to remove the snapshots on `svms` (none: it is Deleted at once). A
 * running backup is refused; one already deleting or deleted is returned unchanged.
 */
export function startDeletion(
  s: BackupStatus,
  ref: { backupId: string; svms: string[] },
  why: { reason: string; byCollector?: boolean },
  now: number,
): BackupStatus {
  if (s.state === "Deleting" || s.state === "Deleted") return s;
  if (s.state === "Running")
    throw new RvssError(
      ErrorCodes.FAILED_PRECONDITION,
      `backup ${ref.backupId} is running; cancel it first (rvss backup cancel ${ref.backupId}), then delete it`,
      { backupId: ref.backupId },
    );
  const pending = [...new Set(ref.svms)].sort();
  const deletion = { requestedAt: now, ...why, was: s.state, pending };
  if (pending.length === 0)
    return { ...s, state: "Deleted", updatedAt: now, deletion: { ...deletion, deletedAt: now } };
  return { ...s, state: "Deleting", updatedAt: now, deletion };
}

/** The snapshots of one SVM are gone; the last SVM's confirmation makes the backup Deleted. */
export function confirmSnapshotsDeleted(s: BackupStatus, svm: string, now: number): BackupStatus {
  const d = s.deletion;
  if (s.state !== "Deleting" || !d || !d.pending.includes(svm)) return s;
  const pending = d.pending.filter((x) => x !== svm);
  if (pending.length > 0) return { ...s, updatedAt: now, deletion: { ...d, pending } };
  return { ...s, state: "Deleted", updatedAt: now, deletion: { ...d, pending, deletedAt: now } };
}

/** The backup's snapshots grouped by SVM, for one delete command per SVM. */
export function snapshotsBySvm(snapshots: readonly BackupSnapshot[]): Map<string, BackupSnapshot[]> {
  const out = new Map<string, BackupSnapshot[]>();
  for (const x of snapshots) out.set(x.svm, [...(out.get(x.svm) ?? []), x]);
  return out;
}

/**
 * Room for one more snapshot on each volume of a set, checked before anything is cloned. `counts`
 * holds the snapshots each volume has now; the first volume at `max` fails with its name and count.
 */
export function checkSnapshotRoom(svm: string, counts: ReadonlyMap<string, number>, max: number): void {
  for (const [volume, n] of counts) {
    if (n + 1 > max)
      throw new RvssError(
        ErrorCodes.FAILED_PRECONDITION,
        `volume "${volume}" of SVM "${svm}" holds ${n} snapshots; one more would exceed RVSS_MAX_SNAPSHOTS_PER_VOLUME=${max} (delete backups or let retention remove them)`,
        { svm, volume, count: n, max },
      );
  }
}
