/**
 * The reconciler's decisions, as pure functions over an SVM's record. Storage rvss made that no
 * record knows (an orphan: a clone made just before a crash, a copy a late duplicate command made
 * again) is taken into the record as a pending removal and removed like an aborted set's storage,
 * with the same confirmation; a removal that failed for good is started again, and so is a set's
 * work whose command was lost.
 *
 * Why the comparison is safe against work under way: every shadow copy ID and snapshot name is in
 * the record before any command makes it, and stays there until its removal is confirmed (a set
 * that completes is listed by its backup before it leaves the record). So something on storage that
 * the record does not know, read after the storage was listed, is not being made for a live set.
 */
import { ErrorCodes, type ErrorCode } from "../errors";
import type { StepName } from "./steps";
import { HRESULT } from "./hresult";
import { beginStep, draft, findSet } from "./record";
import { remainingStorage, removalEntry } from "./removal";
import {
  type Outcome,
  type PendingRemoval,
  type Env,
  type ShadowCopyRecord,
  type StepFailure,
  type SvmRecord,
} from "./types";

/** What the storage holds of one SVM, of what rvss makes (clones, exposed shares, rvss-named snapshots). */
export interface SvmStorage {
  shadowCopies: { volume: string; shadowCopyId: string }[];
  exposedShares: { name: string; volume: string; shadowCopyId: string }[];
  snapshots: { volume: string; name: string }[];
}

export interface Orphans {
  /** Shadow copies to remove: each removes its clone and every share exposing it. */
  shadowCopies: { volume: string; shadowCopyId: string }[];
  /** Names of the exposed shares among them (for the report). */
  exposedShares: string[];
  snapshots: { volume: string; name: string }[];
}

export function noOrphans(o: Orphans): boolean {
  return o.shadowCopies.length === 0 && o.snapshots.length === 0;
}

/** Shadow copy IDs the record knows: its sets' copies, and copies still to be removed. */
export function knownShadowCopies(record: SvmRecord | null): Set<string> {
  const ids = new Set<string>();
  for (const s of record?.sets ?? []) for (const c of s.shadowCopies) ids.add(c.id);
  for (const d of record?.removals ?? []) for (const c of remainingStorage(d).shadowCopies) ids.add(c.id);
  return ids;
}

/** Snapshot names the record knows: planned or taken by its sets, kept or being removed by pending removals. */
export function knownSnapshots(record: SvmRecord | null): Set<string> {
  const names = new Set<string>();
  for (const s of record?.sets ?? []) for (const x of s.snapshots) names.add(x.name);
  for (const d of record?.removals ?? [])
    for (const x of d.snapshots) if (!d.deletedSnapshots.includes(x.name)) names.add(x.name);
  return names;
}

/**
 * What the storage holds that durable state does not know. `listed` holds the snapshot names that
 * backup records list; read them after the SVM record, since a finished set is listed by its
 * backup before it leaves the SVM record. `before` is the SVM record as read before the storage was
 * listed: what it knew was being made or removed then, so is no orphan in this run even where
 * `record` no longer knows it (a removal confirmed between the listing and the read); if it is still
 * on storage, the next run finds it.
 */
export function findOrphans(
  storage: SvmStorage,
  record: SvmRecord | null,
  listed: ReadonlySet<string>,
  before: SvmRecord | null = null,
): Orphans {
  const copies = new Set([...knownShadowCopies(record), ...knownShadowCopies(before)]);
  const snapshots = new Set([...knownSnapshots(record), ...knownSnapshots(before)]);
  const orphanCopies = new Map<string, { volume: string; shadowCopyId: string }>();
  for (const c of storage.shadowCopies)
    if (!copies.has(c.shadowCopyId))
      orphanCopies.set(c.shadowCopyId, { volume: c.volume, shadowCopyId: c.shadowCopyId });
  const exposed = storage.exposedShares.filter((e) => !copies.has(e.shadowCopyId));
  for (const e of exposed)
    if (!orphanCopies.has(e.shadowCopyId))
      orphanCopies.set(e.shadowCopyId, { volume: e.volume, shadowCopyId: e.shadowCopyId });
  return {
    shadowCopies: [...orphanCopies.values()],
    exposedShares: exposed.map((e) => e.name),
    snapshots: storage.snapshots
      .filter((s) => !snapshots.has(s.name) && !listed.has(s.name))
      .map((s) => ({ volume: s.volume, name: s.name })),
  };
}

/**
 * Takes orphans into the record as a pending removal (a `removal` effect removes them), checked again
 * against this record: what a set claimed since the orphans were found is left alone. The value is
 * the new entry's ID and what it took, or null when nothing was left to take.
 */
export function adoptOrphans(
  record: SvmRecord,
  orphans: Orphans,
  env: Env,
): Outcome<{ drainSetId: string; adopted: Orphans } | null> {
  const copies = knownShadowCopies(record);
  const snapshots = knownSnapshots(record);
  const adopted: Orphans = {
    shadowCopies: orphans.shadowCopies.filter((c) => !copies.has(c.shadowCopyId)),
    exposedShares: orphans.exposedShares,
    snapshots: orphans.snapshots.filter((s) => !snapshots.has(s.name)),
  };
  if (noOrphans(adopted)) return { hresult: HRESULT.ZERO, record, value: null, effects: [] };
  const s = draft(record);
  const drainSetId = env.newId().toLowerCase();
  s.removals.push({
    ...removalEntry(
      { id: drainSetId },
      {
        outcome: "aborted",
        reason: "found on storage but in no record (removed by the reconciler)",
        code: ErrorCodes.ORPHAN,
        shadowCopies: adopted.shadowCopies.map((c): ShadowCopyRecord => ({
          id: c.shadowCopyId,
          share: "",
          volume: c.volume,
          sharePath: "",
          files: [],
          creationTimestamp: env.now,
          mapping: null,
        })),
        snapshots: adopted.snapshots.map((x) => ({ volume: x.volume, name: x.name, shadowCopyIds: [] })),
      },
      env,
    ),
    leftover: true,
  });
  return {
    hresult: HRESULT.ZERO,
    record: s,
    value: { drainSetId, adopted },
    effects: [{ kind: "removal", setId: drainSetId }],
  };
}

/** A removal failed for good (its command was given up): the entry keeps the failure until it is tried again. */
export function removalFailed(
  record: SvmRecord,
  report: { setId: string; reason: string; code: ErrorCode },
  env: Env,
): Outcome {
  const entry = record.removals.find((d) => d.setId === report.setId);
  if (!entry || entry.failure) return { hresult: HRESULT.ZERO, record, effects: [] };
  const s = draft(record);
  const failure: StepFailure = { step: "removal", reason: report.reason, code: report.code, at: env.now };
  s.removals.find((d) => d.setId === report.setId)!.failure = failure;
  return { hresult: HRESULT.ZERO, record: s, effects: [] };
}

/** Starts a new attempt (so a new command ID) of every removal that failed for good; the value counts them. */
export function retryFailedRemovals(record: SvmRecord, env: Env): Outcome<number> {
  const failed = record.removals.filter((d) => d.failure);
  if (failed.length === 0) return { hresult: HRESULT.ZERO, record, value: 0, effects: [] };
  const s = draft(record);
  for (const d of s.removals.filter((x) => x.failure)) newDrainAttempt(d, env);
  return {
    hresult: HRESULT.ZERO,
    record: s,
    value: failed.length,
    effects: failed.map((d) => ({ kind: "removal" as const, setId: d.setId })),
  };
}

function newDrainAttempt(d: PendingRemoval, env: Env): void {
  d.attempt += 1;
  d.since = env.now;
  delete d.failure;
}

/**
 * Starts a new attempt (so a new command ID) of a set's pending work whose command was lost: the
 * caller found it neither queued nor answered long after it was sent, and a resend under its old
 * ID would fall in JetStream's duplicate window and be dropped. Only the attempt the caller looked
 * at is replaced; if the set moved on or another replica retried it first, nothing changes.
 */
export function retryLostCommand(
  record: SvmRecord,
  lost: { setId: string; kind: StepName; attempt: number },
  env: Env,
): Outcome<boolean> {
  const p = findSet(record, lost.setId)?.pending;
  if (!p || p.kind !== lost.kind || p.attempt !== lost.attempt) return unchanged(record);
  const s = draft(record);
  beginStep(findSet(s, lost.setId)!, lost.kind, env);
  return { hresult: HRESULT.ZERO, record: s, value: true, effects: [{ kind: "command", setId: lost.setId }] };
}

/** As retryLostCommand, for a removal whose command was lost. */
export function retryLostRemoval(
  record: SvmRecord,
  lost: { setId: string; attempt: number },
  env: Env,
): Outcome<boolean> {
  const entry = record.removals.find((d) => d.setId === lost.setId);
  if (!entry || entry.failure || entry.attempt !== lost.attempt) return unchanged(record);
  const s = draft(record);
  newDrainAttempt(
    s.removals.find((d) => d.setId === lost.setId)!,
    env,
  );
  return { hresult: HRESULT.ZERO, record: s, value: true, effects: [{ kind: "removal", setId: lost.setId }] };
}

/**
 * A removal waits for a step of its ended set whose command the caller found neither queued nor
 * answered long after it was sent (lost around a failover): it stops waiting and removes what the
 * step may have made. Only the attempt the caller looked at is given up.
 */
export function stopWaitingForLostStep(
  record: SvmRecord,
  lost: { setId: string; step: StepName; attempt: number },
  env: Env,
): Outcome<boolean> {
  const w = record.removals.find((d) => d.setId === lost.setId)?.waitsFor;
  if (!w || w.step !== lost.step || w.attempt !== lost.attempt) return unchanged(record);
  const s = draft(record);
  const entry = s.removals.find((d) => d.setId === lost.setId)!;
  delete entry.waitsFor;
  entry.since = env.now;
  return { hresult: HRESULT.ZERO, record: s, value: true, effects: [{ kind: "removal", setId: lost.setId }] };
}

function unchanged(record: SvmRecord): Outcome<boolean> {
  return { hresult: HRESULT.ZERO, record, value: false, effects: [] };
}
