/**
 * The executor's defence in depth: before any storage call, every name that becomes a path is
 * checked to be one plain name, and the command's targets are checked against the SVM record the
 * coordinator keeps. A command that names what the record does not (a forged or stale command) is
 * refused for good, so the worker dead-letters it instead of touching storage.
 */
import { ErrorCodes, RvssError } from "../errors";
import { normaliseListedPath } from "../file-list";
import { isGuid, normaliseGuid, parseSnapshotName, svmNameProblem } from "../naming";
import type { ShadowCopyRecord, SvmRecord } from "./types";

/** A copy as a command names it (the proto ShadowCopy's fields this check reads). */
export interface CopyTarget {
  shadowCopyId: string;
  share: string;
  volume: string;
  sharePath: string;
  files: readonly string[];
}

export interface SnapshotTarget {
  volume: string;
  name: string;
}

const refused = (message: string, details: Record<string, string> = {}): RvssError =>
  new RvssError(ErrorCodes.PATH_ESCAPES_SHARE, message, details);

/** One path segment: never empty, ".", "..", nor holding a separator or NUL. */
function plainName(what: string, name: string): void {
  if (!/^[A-Za-z0-9_$][A-Za-z0-9_.$ -]*$/.test(name) || name.includes("..") || name.length > 255)
    throw refused(`${what} ${JSON.stringify(name.slice(0, 80))} is not a plain name`, { [what]: name.slice(0, 80) });
}

/**
 * The lexical checks: every name that becomes part of a path on storage. A removal of an orphan
 * knows only the copy's ID and volume, so an empty share passes.
 */
export function checkCopyNames(svm: string, c: CopyTarget): void {
  const bad = svmNameProblem(svm);
  if (bad) throw refused(bad, { svm: svm.slice(0, 80) });
  if (!isGuid(c.shadowCopyId)) throw refused(`shadow copy ID "${c.shadowCopyId.slice(0, 80)}" is not a GUID`);
  if (c.share !== "") plainName("share", c.share);
  plainName("volume", c.volume);
  if (c.sharePath !== "") {
    const p = normaliseListedPath(c.sharePath.replace(/^\/+/, ""));
    if ("rule" in p) throw refused(`share path: ${p.message}`, { path: c.sharePath.slice(0, 80) });
  }
  for (const f of c.files) {
    const p = normaliseListedPath(f);
    if ("rule" in p) throw refused(p.message, { path: f.slice(0, 80) });
  }
}

export function checkSnapshotNames(s: SnapshotTarget): void {
  plainName("volume", s.volume);
  if (parseSnapshotName(s.name) === null)
    throw refused(`snapshot "${s.name.slice(0, 80)}" is not a name rvss gives its snapshots`, {
      snapshot: s.name.slice(0, 80),
    });
}

function sameCopy(r: ShadowCopyRecord, c: CopyTarget): boolean {
  return (
    normaliseGuid(r.id) === normaliseGuid(c.shadowCopyId) &&
    r.share === c.share &&
    r.volume === c.volume &&
    r.sharePath === c.sharePath &&
    r.files.length === c.files.length &&
    r.files.every((f, i) => f === c.files[i])
  );
}

/** Refused for good (PERMISSION_DENIED is permanent): the worker dead-letters it, nothing is retried. */
function notInRecord(svm: string, setId: string, what: string): RvssError {
  return new RvssError(
    ErrorCodes.PERMISSION_DENIED,
    `refused: the record of SVM "${svm}" holds no ${what} for set ${setId}; the command is not the coordinator's`,
    { svm, setId },
  );
}

/**
 * Copies to make, expose, seal or finalize: each must be the set's, exactly as the record has it. A
 * set that ended keeps its copies in its pending removal, so a command delivered again just after
 * still finds them there.
 */
export function checkCopiesOfSet(
  record: SvmRecord | null,
  svm: string,
  setId: string,
  copies: readonly CopyTarget[],
): void {
  for (const c of copies) checkCopyNames(svm, c);
  const held =
    record?.sets.find((s) => s.id === setId)?.shadowCopies ??
    record?.removals.find((r) => r.setId === setId)?.shadowCopies;
  if (!held) throw notInRecord(svm, setId, "such set");
  for (const c of copies)
    if (!held.some((r) => sameCopy(r, c))) throw notInRecord(svm, setId, `copy ${c.shadowCopyId} as named`);
}

/**
 * What a removal may take off storage: copies of the set's pending removal, and snapshots only of
 * an aborted set's removal (a completed set's snapshots are the backup). `onStorage` says whether
 * something still exists; what neither the record nor storage holds is a repeat and passes.
 */
export async function checkRemoval(
  record: SvmRecord | null,
  svm: string,
  setId: string,
  cmd: { copies: readonly CopyTarget[]; snapshots: readonly SnapshotTarget[] },
  onStorage: { copy(c: CopyTarget): Promise<boolean>; snapshot(s: SnapshotTarget): Promise<boolean> },
): Promise<void> {
  for (const c of cmd.copies) checkCopyNames(svm, c);
  for (const s of cmd.snapshots) checkSnapshotNames(s);
  const removal = record?.removals.find((r) => r.setId === setId);
  const set = record?.sets.find((s) => s.id === setId);
  for (const c of cmd.copies) {
    const known =
      removal?.shadowCopies.some((r) => normaliseGuid(r.id) === normaliseGuid(c.shadowCopyId)) ||
      set?.shadowCopies.some((r) => normaliseGuid(r.id) === normaliseGuid(c.shadowCopyId));
    if (!known && (await onStorage.copy(c))) throw notInRecord(svm, setId, `removal of copy ${c.shadowCopyId}`);
  }
  for (const s of cmd.snapshots) {
    const known =
      removal?.outcome === "aborted" && removal.snapshots.some((x) => x.volume === s.volume && x.name === s.name);
    if (!known && (await onStorage.snapshot(s))) throw notInRecord(svm, setId, `removal of snapshot ${s.name}`);
  }
}

/**
 * A backup's snapshots are deleted only while the coordinator's record of that backup says it is
 * being deleted (Deleting: DeleteBackup or the collector put it there), or when no live backup owns
 * them: the record says Deleted, or there is none (the admin's DeleteSnapshot of a snapshot no backup
 * owns). Every name must be one rvss gives its snapshots and carry the command's backup ID, so
 * `owner` is the record of every snapshot named; `state` is null when that backup has no record.
 */
export function checkSnapshotDeletion(
  owner: { backupId: string; state: string | null },
  snapshots: readonly SnapshotTarget[],
): void {
  const { backupId, state } = owner;
  for (const s of snapshots) {
    checkSnapshotNames(s);
    if (parseSnapshotName(s.name)!.backupId !== backupId)
      throw new RvssError(
        ErrorCodes.PERMISSION_DENIED,
        `refused: snapshot ${s.name} is not one of backup "${backupId}"'s; the command is not the coordinator's`,
        { backupId, snapshot: s.name },
      );
  }
  if (state === null || state === "Deleting" || state === "Deleted" || snapshots.length === 0) return;
  const names = snapshots.map((s) => s.name).join(", ");
  throw new RvssError(
    ErrorCodes.PERMISSION_DENIED,
    `refused to delete ${names}: backup ${backupId} is ${state}, not being deleted; the command is not the coordinator's`,
    { backupId, state, snapshot: snapshots[0]!.name },
  );
}
