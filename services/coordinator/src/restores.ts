/**
 * Restores as records: each is stored in KV (who, when, which backup and share, which files, the
 * target, the outcome), done by snapshot-executor, answered when its report arrives, and listed.
 */
import { randomUUID } from "node:crypto";
import {
  ErrorCodes,
  RvssError,
  toErrorCode,
  checkFileList,
  checkRestoreTarget,
  invalidArgument,
  type BackupRecord,
  type BackupSnapshot,
  restoreCommandId,
} from "@rvss/core";
import { publishCommand, type Bus } from "@rvss/bus";
import {
  RestoreState,
  type RestoreFinished,
  type RestoreRecord as RestoreRecordProto,
  type RestoreRequest,
  type RestoreResponse,
  type RestoreTarget,
} from "@rvss/proto";
import { backupSnapshotToProto } from "./convert";
import { RESTORE_KEYS, restoreIdOf, restoreKey } from "@rvss/core";

export interface RestoreRecord {
  id: string;
  backupId: string;
  svm: string;
  share: string;
  /** The files asked for; empty: every file of the copy. */
  files: string[];
  target: RestoreTarget;
  /** The caller's gRPC peer. */
  requestedBy: string;
  state: "running" | "completed" | "failed";
  createdAt: number;
  finishedAt?: number;
  reason?: string;
  code?: string;
  result?: { files: { path: string; bytes: number; sha256: string }[]; bytes: number };
}

/** The snapshot and shadow copy holding one share of a backup. */
function locate(b: BackupRecord, svm: string, share: string): { snapshot: BackupSnapshot; copyId: string } {
  const candidates = b.sets.flatMap((s) =>
    s.snapshots.flatMap((snap) => snap.shadowCopies.map((c) => ({ snapshot: snap, copy: c }))),
  );
  if (candidates.length === 0) {
    throw new RvssError(
      ErrorCodes.SNAPSHOT_NOT_FOUND,
      `backup ${b.id} holds no snapshots (state ${b.state}${b.reason ? `: ${b.reason}` : ""})`,
      { backupId: b.id },
    );
  }
  if (!svm && !share) {
    if (candidates.length > 1) {
      const list = candidates.map((c) => `${c.snapshot.svm}/${c.copy.share}`).join(", ");
      throw invalidArgument(`backup ${b.id} holds ${candidates.length} shares (${list}); name one with svm and share`, {
        backupId: b.id,
      });
    }
    return { snapshot: candidates[0]!.snapshot, copyId: candidates[0]!.copy.id };
  }
  const hit = candidates.find(
    (c) => (!svm || c.snapshot.svm === svm) && c.copy.share.toLowerCase() === share.toLowerCase(),
  );
  if (!hit)
    throw new RvssError(
      ErrorCodes.SNAPSHOT_NOT_FOUND,
      `backup ${b.id} holds no copy of share "${share}"${svm ? ` on SVM "${svm}"` : ""}`,
      { backupId: b.id, svm, share },
    );
  return { snapshot: hit.snapshot, copyId: hit.copy.id };
}

/** `restoreRoots`: where a directory target may lie (RVSS_RESTORE_ROOTS). */
export async function restore(
  bus: Bus,
  b: BackupRecord,
  req: RestoreRequest,
  requestedBy: string,
  timeoutMs: number,
  restoreRoots: readonly string[],
): Promise<RestoreResponse> {
  if (b.state === "Deleting" || b.state === "Deleted")
    throw new RvssError(
      ErrorCodes.FAILED_PRECONDITION,
      `backup ${b.id} is ${b.state.toLowerCase()}: nothing to restore`,
      {
        backupId: b.id,
      },
    );
  const { files, problems } = checkFileList(req.files);
  if (problems.length > 0) throw invalidArgument(problems[0]!.message, { path: problems[0]!.path });
  const t = req.target?.kind;
  if (!t) throw invalidArgument("a restore needs a target: a directory or a share");
  if (t.$case === "directory") checkRestoreTarget(t.value, restoreRoots);
  const { snapshot, copyId } = locate(b, req.svm, req.share);
  const copy = snapshot.shadowCopies.find((c) => c.id === copyId)!;
  const id = randomUUID();
  const rec: RestoreRecord = {
    id,
    backupId: b.id,
    svm: snapshot.svm,
    share: copy.share,
    files,
    target: req.target!,
    requestedBy,
    state: "running",
    createdAt: Date.now(),
  };
  await bus.state.put(restoreKey(id), rec);
  const snapProto = backupSnapshotToProto(snapshot, b.id);
  await publishCommand(bus, "executor", {
    context: { commandId: restoreCommandId(id), svm: snapshot.svm, setId: "", backupId: b.id },
    kind: {
      $case: "restoreFiles",
      value: {
        restoreId: id,
        snapshot: snapProto,
        shadowCopy: snapProto.shadowCopies.find((c) => c.shadowCopyId === copyId)!,
        files,
        target: req.target,
        overwrite: req.overwrite,
      },
    },
  });
  const done = await bus.state.waitFor<RestoreRecord>(
    restoreKey(id),
    (v) => v !== null && v.state !== "running",
    timeoutMs,
  );
  if (!done)
    throw new RvssError(
      ErrorCodes.TIMEOUT,
      `restore ${id} of backup ${b.id} did not finish within ${Math.round(timeoutMs / 1000)} s; it goes on in the background`,
      { backupId: b.id, restoreId: id },
    );
  if (done.state === "failed") {
    throw new RvssError(
      toErrorCode(done.code ?? ""),
      `restore of share "${copy.share}" from backup ${b.id} failed: ${done.reason}`,
      {
        backupId: b.id,
        share: copy.share,
        restoreId: id,
      },
    );
  }
  return {
    restoreId: id,
    files: done.result!.files.map((f) => ({ ...f, bytes: BigInt(f.bytes) })),
    bytes: BigInt(done.result!.bytes),
    finishedAt: new Date(done.finishedAt ?? Date.now()),
  };
}

/** Applies the executor's report to the restore record. */
export async function recordRestoreFinished(bus: Bus, r: RestoreFinished): Promise<void> {
  await bus.state.mutate<RestoreRecord, void>(restoreKey(r.restoreId), (cur) => {
    if (!cur || cur.value.state !== "running") return { next: undefined, result: undefined };
    const next: RestoreRecord = {
      ...cur.value,
      state: r.ok ? "completed" : "failed",
      finishedAt: Date.now(),
      ...(r.ok
        ? {
            result: {
              files: r.files.map((f) => ({ path: f.path, bytes: Number(f.bytes), sha256: f.sha256 })),
              bytes: Number(r.bytes),
            },
          }
        : { reason: r.reason, code: r.code }),
    };
    return { next, result: undefined };
  });
}

const stateOf: Record<RestoreRecord["state"], RestoreState> = {
  running: RestoreState.RESTORE_STATE_RUNNING,
  completed: RestoreState.RESTORE_STATE_COMPLETED,
  failed: RestoreState.RESTORE_STATE_FAILED,
};

function restoreToProto(r: RestoreRecord): RestoreRecordProto {
  return {
    id: r.id,
    backupId: r.backupId,
    svm: r.svm,
    share: r.share,
    files: r.files ?? [],
    ...(r.target ? { target: r.target } : {}),
    state: stateOf[r.state],
    reason: r.reason ?? "",
    code: r.code ?? "",
    requestedBy: r.requestedBy ?? "",
    createdAt: new Date(r.createdAt),
    ...(r.finishedAt ? { finishedAt: new Date(r.finishedAt) } : {}),
    restoredFiles: (r.result?.files ?? []).map((f) => ({ ...f, bytes: BigInt(f.bytes) })),
    bytes: BigInt(r.result?.bytes ?? 0),
  };
}

/** Every restore, newest first; only those of `backupId` when given. */
export async function listRestores(bus: Bus, backupId: string): Promise<RestoreRecordProto[]> {
  return (await bus.state.list<RestoreRecord>(RESTORE_KEYS))
    .map((v) => v.value)
    .filter((r) => !backupId || r.backupId === backupId)
    .sort((a, b) => b.createdAt - a.createdAt)
    .map(restoreToProto);
}

/** One restore by its ID or a unique prefix of it. */
export async function getRestore(bus: Bus, ref: string): Promise<RestoreRecordProto> {
  const r = ref.trim();
  const exact = r ? await bus.state.get<RestoreRecord>(restoreKey(r)) : null;
  if (exact) return restoreToProto(exact.value);
  const ids = r.length >= 4 ? (await bus.state.keys(RESTORE_KEYS)).map(restoreIdOf) : [];
  const hits = ids.filter((id) => id.startsWith(r.toLowerCase()));
  if (hits.length > 1)
    throw invalidArgument(`restore prefix "${r}" matches ${hits.length} restores; give more of the ID`, {
      restoreId: r,
    });
  const one = hits.length === 1 ? await bus.state.get<RestoreRecord>(restoreKey(hits[0]!)) : null;
  if (!one)
    throw new RvssError(ErrorCodes.RESTORE_NOT_FOUND, `no restore has the ID or ID prefix "${r}"`, { restoreId: r });
  return restoreToProto(one.value);
}
