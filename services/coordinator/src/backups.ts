/**
 * Backup records in KV: created once, then changed by compare-and-set as their sets start and end.
 * Every change is idempotent, so a redelivered report never counts a set twice.
 */
import {
  isFinal,
  markSetFinished,
  markSetStarted,
  snapshotsOf,
  type BackupLink,
  type BackupRecord,
  type BackupSnapshot,
  type DrainingSet,
} from "@rvss/core";
import { publishEventOnce, type Bus, type TraceContext } from "@rvss/bus";
import type { Logger } from "@rvss/runtime";
import { backupKey } from "./keys";
import { backupSnapshotToProto, backupStateToProto } from "./convert";

export class Backups {
  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  async get(id: string): Promise<BackupRecord | null> {
    return (await this.bus.state.get<BackupRecord>(backupKey(id)))?.value ?? null;
  }

  async list(): Promise<BackupRecord[]> {
    return (await this.bus.state.list<BackupRecord>("backup.*")).map((v) => v.value).sort((a, b) => b.createdAt - a.createdAt);
  }

  async markStarted(link: BackupLink, setId: string): Promise<void> {
    await this.bus.state.mutate<BackupRecord, void>(backupKey(link.backupId), (cur) => {
      if (!cur) return { next: undefined, result: undefined };
      const next = markSetStarted(cur.value, link.index, setId, Date.now());
      return { next: next === cur.value ? undefined : next, result: undefined };
    });
  }

  /** Records how a set ended (idempotent); returns the backup as it now stands. */
  async markFinished(entry: DrainingSet): Promise<BackupRecord | null> {
    const link = entry.backup;
    if (!link) return null;
    const snapshots: BackupSnapshot[] =
      entry.outcome === "completed"
        ? entry.snapshots.map((s) => ({
            svm: "",
            volume: s.volume,
            name: s.name,
            takenAt: s.takenAt ?? Date.now(),
            setId: entry.setId,
            shadowCopies: entry.shadowCopies
              .filter((c) => s.shadowCopyIds.includes(c.id))
              .map((c) => ({ id: c.id, share: c.share, clonePath: c.clonePath ?? "", files: c.files, fileCount: c.fileCount ?? 0, bytes: c.bytes ?? 0 })),
          }))
        : [];
    const b = await this.bus.state.mutate<BackupRecord, BackupRecord | null>(backupKey(link.backupId), (cur) => {
      if (!cur) return { next: undefined, result: null };
      const svm = cur.value.sets[link.index]?.svm ?? "";
      const next = markSetFinished(
        cur.value,
        {
          index: link.index,
          ...(entry.setId ? { setId: entry.setId } : {}),
          outcome: entry.outcome,
          reason: entry.reason,
          code: entry.code,
          snapshots: snapshots.map((s) => ({ ...s, svm })),
          ...(entry.writerSteps ? { writerSteps: entry.writerSteps } : {}),
        },
        Date.now(),
      );
      return { next: next === cur.value ? undefined : next, result: next };
    });
    return b;
  }

  /** Publishes BackupFinished once (it is looked up in the stream first) when the backup has ended. */
  async publishFinishedIfFinal(b: BackupRecord | null, trace?: TraceContext): Promise<void> {
    if (!b || !isFinal(b.state)) return;
    await this.publishFinished(b, trace);
  }

  private async publishFinished(b: BackupRecord, trace?: TraceContext): Promise<void> {
    const published = await publishEventOnce(
      this.bus,
      {
        eventId: `${b.id}:finished`,
        time: new Date(),
        svm: "",
        setId: "",
        backupId: b.id,
        source: "coordinator",
        body: { $case: "backupFinished", value: { state: backupStateToProto(b.state), reason: b.reason ?? "", snapshots: snapshotsOf(b).map((s) => backupSnapshotToProto(s, b.id)) } },
      },
      trace,
    );
    if (published) this.log.info({ backupId: b.id, state: b.state, reason: b.reason }, `backup ${b.state}`);
  }
}
