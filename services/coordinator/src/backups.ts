/**
 * Backups in KV, in three kinds of keys so that no write grows with the size of a backup:
 *   backup.<id>              the plan (dataset and sets), written once, cached here
 *   backup.<id>.status       state and counts, compare-and-set as sets end
 *   backup.<id>.set.<index>  how one set ended (snapshots, writer answers), written once
 * Every change is idempotent, so a redelivered report never counts a set twice.
 */
import {
  ErrorCodes,
  assembleBackup,
  isFinal,
  markCancelRequested,
  progressOf,
  recordSetEnd,
  snapshotsOf,
  toErrorCode,
  type BackupPlan,
  type BackupRecord,
  type BackupSnapshot,
  type BackupStatus,
  type PendingRemoval,
  type SetResult,
  backupKey,
  backupStatusKey,
  backupSetKey,
  backupSetKeys,
  backupVerificationKey,
  backupVerificationKeys,
  nextVerification,
  parseSnapshotName,
  type SnapshotVerificationRecord,
  BACKUP_KEYS,
  backupIdOf,
  backupFinishedEventId,
} from "@rvss/core";
import { publishEvent, type Bus } from "@rvss/bus";
import type { Logger } from "@rvss/runtime";
import type { SnapshotVerification } from "@rvss/proto";
import { backupSnapshotToProto, backupStateToProto, verificationFromProto } from "./convert";
import { setCompletedEvent } from "./set-events";

const MAX_LISTED_SNAPSHOTS = 100;

export interface StoredBackup {
  plan: BackupPlan;
  status: BackupStatus;
}

export class Backups {
  private readonly plans = new Map<string, BackupPlan>();

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  /** Stores a new backup (status first: a plan without a status is never visible). */
  async create(plan: BackupPlan, status: BackupStatus): Promise<void> {
    await this.bus.state.create(backupStatusKey(plan.id), status);
    await this.bus.state.create(backupKey(plan.id), plan);
    this.plans.set(plan.id, plan);
  }

  async plan(id: string): Promise<BackupPlan | null> {
    const cached = this.plans.get(id);
    if (cached) return cached;
    const p = (await this.bus.state.get<BackupPlan>(backupKey(id)))?.value ?? null;
    if (p) this.plans.set(id, p);
    return p;
  }

  async status(id: string): Promise<BackupStatus | null> {
    return (await this.bus.state.get<BackupStatus>(backupStatusKey(id)))?.value ?? null;
  }

  async state(id: string): Promise<StoredBackup | null> {
    const [plan, status] = await Promise.all([this.plan(id), this.status(id)]);
    return plan && status ? { plan, status } : null;
  }

  async results(id: string): Promise<Map<number, SetResult>> {
    const all = await this.bus.state.list<SetResult>(backupSetKeys(id));
    return new Map(all.map((r) => [r.value.index, r.value]));
  }

  /** The backup as people see it, with the results of the sets that ended and their snapshots' verifications. */
  async get(id: string): Promise<BackupRecord | null> {
    const s = await this.state(id);
    if (!s) return null;
    const [results, verifications] = await Promise.all([
      this.results(id),
      this.bus.state.list<SnapshotVerificationRecord>(backupVerificationKeys(id)),
    ]);
    return assembleBackup(
      s.plan,
      s.status,
      results,
      verifications.map((v) => v.value),
    );
  }

  /**
   * Records the executor's report of a snapshot's verification (one key per snapshot, so the set's
   * result stays written once); an older or repeated report changes nothing.
   */
  async recordVerification(backupId: string, e: SnapshotVerification): Promise<void> {
    const report = verificationFromProto(e);
    const parts = parseSnapshotName(e.name);
    if (!report || parts?.backupId !== backupId || !(await this.plan(backupId))) return;
    await this.bus.state.mutate<SnapshotVerificationRecord, void>(
      backupVerificationKey(backupId, parts.setId, e.volume),
      (cur) => ({ next: nextVerification(cur?.value ?? null, report) ?? undefined, result: undefined }),
    );
  }

  /** Every backup, newest first, without per-set results (cheap). */
  async list(): Promise<StoredBackup[]> {
    const ids = (await this.bus.state.keys(BACKUP_KEYS)).map(backupIdOf);
    const states = await Promise.all(ids.map((id) => this.state(id)));
    return states.filter((s): s is StoredBackup => s !== null).sort((a, b) => b.plan.createdAt - a.plan.createdAt);
  }

  /**
   * Changes a backup's status with `fn` (pure; returning the same object writes nothing); returns
   * the status after and whether this call changed it, or null when the backup does not exist.
   */
  async changeStatus(
    id: string,
    fn: (s: BackupStatus) => BackupStatus,
  ): Promise<{ status: BackupStatus; changed: boolean } | null> {
    return this.bus.state.mutate<BackupStatus, { status: BackupStatus; changed: boolean } | null>(
      backupStatusKey(id),
      (cur) => {
        if (!cur) return { next: undefined, result: null };
        const next = fn(cur.value);
        return next === cur.value
          ? { next: undefined, result: { status: next, changed: false } }
          : { next, result: { status: next, changed: true } };
      },
    );
  }

  async requestCancel(id: string): Promise<void> {
    await this.bus.state.mutate<BackupStatus, void>(backupStatusKey(id), (cur) => {
      const next = cur ? markCancelRequested(cur.value, Date.now()) : undefined;
      return { next: next === cur?.value ? undefined : next, result: undefined };
    });
  }

  private async end(backupId: string, result: SetResult): Promise<StoredBackup | null> {
    const plan = await this.plan(backupId);
    if (!plan) return null;
    await this.bus.state.create(backupSetKey(backupId, result.index), result);
    const status = await this.bus.state.mutate<BackupStatus, BackupStatus | null>(backupStatusKey(backupId), (cur) => {
      if (!cur) return { next: undefined, result: null };
      const next = recordSetEnd(cur.value, plan, result, Date.now());
      return { next: next === cur.value ? undefined : next, result: next };
    });
    return status ? { plan, status } : null;
  }

  /** Records how a set ended (idempotent); returns the backup's state after it. */
  async markFinished(entry: PendingRemoval): Promise<StoredBackup | null> {
    const link = entry.backup;
    if (!link) return null;
    const plan = await this.plan(link.backupId);
    const svm = plan?.sets[link.index]?.svm ?? "";
    const snapshots: BackupSnapshot[] =
      entry.outcome === "completed"
        ? entry.snapshots.map((s) => ({
            svm,
            volume: s.volume,
            name: s.name,
            takenAt: s.takenAt ?? Date.now(),
            setId: entry.setId,
            ...(s.noChecksums
              ? {
                  verification: { volume: s.volume, name: s.name, state: "none" as const, at: s.takenAt ?? Date.now() },
                }
              : {}),
            shadowCopies: entry.shadowCopies
              .filter((c) => s.shadowCopyIds.includes(c.id))
              .map((c) => ({
                id: c.id,
                share: c.share,
                clonePath: c.clonePath ?? "",
                files: c.files,
                fileCount: c.fileCount ?? 0,
                bytes: c.bytes ?? 0,
              })),
          }))
        : [];
    return this.end(link.backupId, {
      index: link.index,
      ...(entry.setId ? { setId: entry.setId } : {}),
      outcome: entry.outcome,
      ...(entry.outcome === "aborted" ? { reason: entry.reason, code: toErrorCode(entry.code) } : {}),
      snapshots,
      ...(entry.writerSteps?.length ? { writerSteps: entry.writerSteps } : {}),
      finishedAt: Date.now(),
    });
  }

  /** Plan entries a cancel stopped before they were released: they end as failed, "cancelled". */
  async markWithdrawn(backupId: string, indexes: number[]): Promise<void> {
    let last: StoredBackup | null = null;
    for (const index of indexes) {
      last = await this.end(backupId, {
        index,
        outcome: "aborted",
        reason: "the backup was cancelled",
        code: ErrorCodes.CANCELLED,
        snapshots: [],
        finishedAt: Date.now(),
      });
    }
    await this.publishFinishedIfFinal(last);
  }

  /**
   * A managed set ended for good: its result is recorded, SetCompleted goes out (before its slot
   * is given to the next set, so events show no overlap), and BackupFinished once the backup ended.
   */
  async settleFinished(svm: string, entry: PendingRemoval): Promise<void> {
    const state = await this.markFinished(entry);
    if (entry.outcome === "completed")
      await publishEvent(this.bus, setCompletedEvent(svm, entry.setId, entry.backup!.backupId, entry.snapshots));
    await this.publishFinishedIfFinal(state);
  }

  /** Publishes BackupFinished (its ID is derived from the backup) when the backup has ended. */
  async publishFinishedIfFinal(s: StoredBackup | null): Promise<void> {
    if (!s || !isFinal(s.status.state)) return;
    await this.publishFinished(assembleBackup(s.plan, s.status, await this.results(s.plan.id)));
  }

  /** Publishes an ended backup's BackupFinished event. */
  async publishFinished(b: BackupRecord): Promise<void> {
    const snapshots = snapshotsOf(b);
    const progress = progressOf(b);
    await publishEvent(this.bus, {
      eventId: backupFinishedEventId(b.id),
      time: new Date(),
      svm: "",
      setId: "",
      backupId: b.id,
      source: "coordinator",
      body: {
        $case: "backupFinished",
        value: {
          state: backupStateToProto(b.state),
          reason: b.reason ?? "",
          // Events stay small (NATS caps a message at 1 MB): a large backup's list is in GetBackup.
          snapshots:
            snapshots.length <= MAX_LISTED_SNAPSHOTS ? snapshots.map((x) => backupSnapshotToProto(x, b.id)) : [],
          snapshotsTaken: snapshots.length,
          setsCompleted: progress.setsCompleted,
          setsFailed: progress.setsFailed,
        },
      },
    });
    this.log.info({ backupId: b.id, state: b.state, reason: b.reason }, `backup ${b.state}`);
  }
}
