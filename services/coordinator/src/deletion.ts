/**
 * Deleting backups. The backup's status records the deletion first (Deleting, with the SVMs whose
 * snapshots are still there); then one DeleteSnapshots command per SVM goes to the snapshot-executor,
 * under an ID derived from backup and SVM. Each SVM's SnapshotsDeleted report is applied once; the
 * last makes the backup Deleted and publishes BackupDeleted. A crash at any point leaves the status
 * saying what is left, and `resume` (the reconciler's sweep) sends it again: the executor finds a
 * snapshot already gone and reports it as such.
 */
import {
  backupDeletedEventId,
  confirmSnapshotsDeleted,
  deleteSnapshotsCommandId,
  snapshotsBySvm,
  snapshotsOf,
  startDeletion,
  type BackupRecord,
  type BackupStatus,
} from "@rvss/core";
import { publishCommand, publishEvent, publishEventOnce, type Bus } from "@rvss/bus";
import type { Event } from "@rvss/proto";
import { backupsDeleted, type Logger } from "@rvss/runtime";
import type { Backups } from "./backups";

/** A backup Deleted this recently has its BackupDeleted event checked again by `resume`. */
const RECHECK_DELETED_MS = 3_600_000;

export class Deletions {
  constructor(
    private readonly bus: Bus,
    private readonly backups: Backups,
    private readonly log: Logger,
  ) {}

  /** Starts deleting a backup (refused while it runs); returns its status after. */
  async request(b: BackupRecord, why: { reason: string; byCollector?: boolean }): Promise<BackupStatus> {
    const svms = [...snapshotsBySvm(snapshotsOf(b)).keys()];
    const out = await this.backups.changeStatus(b.id, (s) =>
      startDeletion(s, { backupId: b.id, svms }, why, Date.now()),
    );
    if (!out) throw new Error(`backup ${b.id} has no status record`);
    if (out.changed) this.log.info({ backupId: b.id, reason: why.reason, svms }, "backup deletion requested");
    // A backup without snapshots is Deleted at once.
    if (out.changed && out.status.state === "Deleted")
      backupsDeleted.inc({ by: why.byCollector ? "collector" : "request", schedule: b.schedule ?? "" });
    await this.carryOn(b, out.status);
    return out.status;
  }

  /** Sends what the deletion still needs: a command per SVM still holding snapshots, or the final event. */
  private async carryOn(b: BackupRecord, status: BackupStatus): Promise<void> {
    const d = status.deletion;
    if (!d) return;
    if (status.state === "Deleted") {
      await publishEventOnce(this.bus, this.deletedEvent(b, status));
      return;
    }
    const bySvm = snapshotsBySvm(snapshotsOf(b));
    for (const svm of d.pending) {
      await publishCommand(this.bus, "executor", {
        context: { commandId: deleteSnapshotsCommandId(b.id, svm), svm, setId: "", backupId: b.id },
        kind: {
          $case: "deleteSnapshots",
          value: {
            snapshots: (bySvm.get(svm) ?? []).map((x) => ({ volume: x.volume, name: x.name })),
            reason: d.reason,
          },
        },
      });
    }
  }

  /** The executor's report for one SVM. */
  async confirmed(e: Event): Promise<void> {
    if (e.body?.$case !== "snapshotsDeleted") return;
    const { deleted, alreadyGone } = e.body.value;
    const out = await this.backups.changeStatus(e.backupId, (s) => confirmSnapshotsDeleted(s, e.svm, Date.now()));
    this.log.info(
      { backupId: e.backupId, svm: e.svm, deleted: deleted.length, alreadyGone: alreadyGone.length },
      "snapshots deleted",
    );
    // Only the report that made it Deleted announces it (an admin's snapshot delete reports too).
    const status = out?.status;
    if (!out?.changed || status?.state !== "Deleted") return;
    const b = await this.backups.get(e.backupId);
    if (!b) return;
    await publishEvent(this.bus, this.deletedEvent(b, status));
    backupsDeleted.inc({ by: status.deletion?.byCollector ? "collector" : "request", schedule: b.schedule ?? "" });
    this.log.info({ backupId: b.id, reason: status.deletion?.reason }, "backup deleted");
  }

  /** Sends again what unfinished deletions need (after a crash, or a command that failed for good). */
  async resume(): Promise<number> {
    let resumed = 0;
    for (const s of await this.backups.list()) {
      const d = s.status.deletion;
      const recent = s.status.state === "Deleted" && Date.now() - (d?.deletedAt ?? 0) < RECHECK_DELETED_MS;
      if (s.status.state !== "Deleting" && !recent) continue;
      const b = await this.backups.get(s.plan.id);
      if (!b) continue;
      await this.carryOn(b, s.status);
      if (s.status.state === "Deleting") resumed++;
    }
    return resumed;
  }

  private deletedEvent(b: BackupRecord, status: BackupStatus): Event {
    const d = status.deletion!;
    const snapshots = snapshotsOf(b).length;
    return {
      eventId: backupDeletedEventId(b.id),
      time: new Date(d.deletedAt ?? Date.now()),
      svm: "",
      setId: "",
      backupId: b.id,
      source: "coordinator",
      body: {
        $case: "backupDeleted",
        value: { reason: d.reason, snapshotsDeleted: snapshots, byCollector: d.byCollector ?? false },
      },
    };
  }
}
