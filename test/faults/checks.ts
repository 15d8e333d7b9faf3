/**
 * What every fault case must leave behind, checked from the outside (the filer on disk, the durable
 * records, the event stream as an independent subscriber reads it, the processes):
 *   - each set ended Completed with one snapshot per volume, or aborted with a reason;
 *   - the filer holds no clone, exposed share or rvss snapshot that durable state does not know;
 *   - each step's event is in the stream exactly once (snapshot_taken once per volume);
 *   - no service process died by itself.
 */
import { managedSetEvents, parseSnapshotName, remainingStorage, type BackupRecord } from "@rvss/core";
import type { RecordedEvent } from "@rvss/testkit";
import { VOLUMES, until, type FaultSystem } from "./system";

type EventType = NonNullable<RecordedEvent["event"]["body"]>["$case"];

/**
 * Events that happen once in every completed managed set (writersRecovered only when it has
 * writers), from the table of steps; snapshot_taken and shadow_copies_deleted are checked per volume
 * and per copy below.
 */
const ONCE = managedSetEvents({ writers: true, volumes: 1 }).filter(
  (t) => t !== "snapshotTaken" && t !== "shadowCopiesDeleted",
) as EventType[];

/** Waits for the backup to end and its storage to settle, then checks every rule; returns what is wrong. */
export async function checkBackup(
  sys: FaultSystem,
  backupId: string,
  o: { writers: boolean; timeoutMs?: number; skip?: (e: RecordedEvent) => boolean },
): Promise<string[]> {
  const problems: string[] = [];
  const b = await until(
    `backup ${backupId} to finish`,
    async () => {
      const r = await sys.backup(backupId);
      return r && r.state !== "Running" ? r : undefined;
    },
    o.timeoutMs ?? 60_000,
  );
  const svms = [...new Set(b.sets.map((s) => s.svm))];
  // Removal of the copies is confirmed before a set counts as finished; wait for removals of others too.
  await until(
    `the storage of backup ${backupId} to be removed`,
    async () => {
      for (const svm of svms) {
        const rec = await sys.svm(svm);
        if (rec && (rec.removals.length > 0 || rec.sets.some((s) => s.backup?.backupId === backupId))) return undefined;
      }
      return true;
    },
    30_000,
  );
  if (o.writers) {
    for (const p of b.sets.filter((s) => s.setId)) {
      // Both are told after the set moved on; a thaw held by a killed notifier may come after the finish.
      for (const step of ["writersThawed", "writersFinished"] as const) {
        if (step === "writersThawed" && p.phase !== "completed") continue;
        await until(
          `${step} of set ${p.setId}`,
          async () => (sys.events.of(p.setId!).some((e) => e.event.body?.$case === step) ? true : undefined),
          15_000,
        ).catch((err: Error) => problems.push(err.message));
      }
    }
  }
  problems.push(...(await setOutcomes(sys, b)));
  for (const svm of svms) problems.push(...(await settledStorage(sys, svm)));
  await sys.events.caughtUp();
  problems.push(
    ...eventProblems(
      sys.events.events.filter((e) => !o.skip?.(e)),
      b,
      o.writers,
    ),
  );
  problems.push(...crashedServices(sys));
  return problems;
}

async function setOutcomes(sys: FaultSystem, b: BackupRecord): Promise<string[]> {
  const problems: string[] = [];
  for (const p of b.sets) {
    if (p.phase === "completed") {
      const vols = p.snapshots.map((s) => s.volume).sort();
      if (vols.join() !== [...VOLUMES].join())
        problems.push(`set ${p.setId} completed with snapshots of [${vols.join()}], not one per volume`);
      const onDisk = new Set((await sys.backend.listSnapshots(p.svm)).map((s) => s.name));
      for (const s of p.snapshots)
        if (!onDisk.has(s.name)) problems.push(`snapshot ${s.name} of set ${p.setId} is not on the filer`);
    } else if (p.phase === "failed") {
      if (!p.reason) problems.push(`set ${p.setId ?? `#${p.index}`} failed without a reason`);
    } else {
      problems.push(`set #${p.index} of backup ${b.id} is still ${p.phase}`);
    }
  }
  return problems;
}

/**
 * What is left unknown once the reconciler had its turns: a command delivered again after its set
 * finished (its ack was lost in a crash) may make a clone again, which the next run removes.
 */
async function settledStorage(sys: FaultSystem, svm: string): Promise<string[]> {
  let left: string[] = [];
  await until(
    `the storage of ${svm} to hold nothing unknown`,
    async () => {
      left = await unknownStorage(sys, svm);
      return left.length === 0 ? true : undefined;
    },
    10_000,
  ).catch(() => undefined);
  return left;
}

/** Clones, exposed shares and rvss snapshots of an SVM that no durable record knows. */
export async function unknownStorage(sys: FaultSystem, svm: string): Promise<string[]> {
  const rec = await sys.svm(svm);
  const copies = new Set<string>();
  const snapshots = new Set<string>();
  for (const s of rec?.sets ?? []) {
    for (const c of s.shadowCopies) copies.add(c.id);
    for (const x of s.snapshots) snapshots.add(x.name);
  }
  for (const d of rec?.removals ?? []) {
    const left = remainingStorage(d);
    for (const c of left.shadowCopies) copies.add(c.id);
    for (const x of d.snapshots) snapshots.add(x.name);
  }
  const backups = new Map<string, BackupRecord | null>();
  const problems: string[] = [];
  for (const c of await sys.backend.listShadowCopies(svm))
    if (!copies.has(c.shadowCopyId)) problems.push(`unknown clone ${svm}:${c.volume}/${c.clonePath}`);
  for (const e of await sys.backend.listExposedShares(svm))
    if (!copies.has(e.shadowCopyId)) problems.push(`unknown exposed share \\\\${svm}\\${e.name}`);
  for (const s of await sys.backend.listSnapshots(svm)) {
    const parts = parseSnapshotName(s.name);
    if (!parts || snapshots.has(s.name)) continue;
    if (!backups.has(parts.backupId)) backups.set(parts.backupId, await sys.backup(parts.backupId));
    const listed = backups.get(parts.backupId)?.sets.some((p) => p.snapshots.some((x) => x.name === s.name));
    if (!listed) problems.push(`unknown snapshot ${svm}:${s.volume}@${s.name}`);
  }
  return problems;
}

/** Each step's event once per set, and no message ID twice in the stream (`recorded` holds its events). */
function eventProblems(recorded: RecordedEvent[], b: BackupRecord, writers: boolean): string[] {
  const problems: string[] = [];
  const ids = new Map<string, number>();
  for (const e of recorded) ids.set(e.msgId, (ids.get(e.msgId) ?? 0) + 1);
  for (const [id, n] of ids) if (n > 1) problems.push(`event ${id} is in the stream ${n} times`);
  // The executor's verification reports come on their own schedule, after the sets ended.
  const backupTypes = recorded
    .filter((e) => e.event.backupId === b.id && !e.event.setId && e.event.body?.$case !== "snapshotVerification")
    .map((e) => e.event.body?.$case);
  if (backupTypes.join() !== "backupCreated,backupFinished")
    problems.push(`backup ${b.id} has events [${backupTypes.join()}], not backupCreated, backupFinished`);
  for (const p of b.sets) {
    if (!p.setId) continue;
    const events = recorded.filter((e) => e.event.setId === p.setId);
    const count = (t: EventType) => events.filter((e) => e.event.body?.$case === t).length;
    const completed = p.phase === "completed";
    const expectOnce = !completed
      ? ["setAborted" as EventType]
      : writers
        ? ONCE
        : ONCE.filter((t) => t !== "writersRecovered");
    for (const t of expectOnce)
      if (count(t) !== 1) problems.push(`set ${p.setId}: ${t} ${count(t)} times, expected once`);
    for (const t of [...ONCE, "setAborted", "stepFailed", "writersThawed", "writersFinished"] as EventType[]) {
      if (count(t) > 1) problems.push(`set ${p.setId}: ${t} ${count(t)} times`);
    }
    if (completed) {
      for (const t of ["setAborted", "stepFailed"] as EventType[])
        if (count(t) > 0) problems.push(`completed set ${p.setId} has a ${t} event`);
      if (writers && (count("writersThawed") !== 1 || count("writersFinished") !== 1))
        problems.push(
          `set ${p.setId}: writers thawed ${count("writersThawed")}, finished ${count("writersFinished")} times, expected once each`,
        );
    }
    const snapVolumes = events.flatMap((e) =>
      e.event.body?.$case === "snapshotTaken" ? [e.event.body.value.snapshot?.volume ?? ""] : [],
    );
    if (new Set(snapVolumes).size !== snapVolumes.length)
      problems.push(`set ${p.setId}: snapshot_taken for volumes [${snapVolumes.join()}], not once per volume`);
    if (completed && snapVolumes.length !== VOLUMES.length)
      problems.push(`set ${p.setId}: ${snapVolumes.length} snapshot_taken events for ${VOLUMES.length} volumes`);
    const deleted = events.flatMap((e) =>
      e.event.body?.$case === "shadowCopiesDeleted" ? e.event.body.value.shadowCopyIds : [],
    );
    if (new Set(deleted).size !== deleted.length)
      problems.push(`set ${p.setId}: a shadow copy reported deleted twice [${deleted.join()}]`);
    if (completed && deleted.length !== VOLUMES.length)
      problems.push(`set ${p.setId}: ${deleted.length} copies reported deleted, expected ${VOLUMES.length}`);
  }
  return problems;
}

export function crashedServices(sys: FaultSystem): string[] {
  return Object.values(sys.services)
    .filter((s) => s.exited())
    .map((s) => `${s.name} exited by itself: ${s.output().trim().split("\n").slice(-3).join(" | ")}`);
}
