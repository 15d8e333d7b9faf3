/**
 * What snapshot-executor does for each command, as calls on the storage backend. Every step is
 * idempotent, because a command may come twice; a step that fails removes what it made itself.
 */
import { errorMessage, isPermanent, parseSnapshotName } from "@rvss/core";
import type {
  CreateShadowCopies,
  DeleteShadowCopies,
  ExposeShadowCopies,
  RestoreFiles,
  SealShadowCopies,
  ShadowCopy,
  StorageInventoryResponse,
  SvmInventory,
  TakeSnapshots,
  VolumeSnapshot,
} from "@rvss/proto";
import type { PhaseResult } from "@rvss/bus";
import type { StorageBackend } from "@rvss/storage";

export type StepResult = PhaseResult[];

function ref(svm: string, c: ShadowCopy) {
  return { svm, volume: c.volume, shadowCopyId: c.shadowCopyId };
}

export async function createShadowCopies(backend: StorageBackend, svm: string, cmd: CreateShadowCopies): Promise<StepResult> {
  const made: ShadowCopy[] = [];
  try {
    for (const c of cmd.shadowCopies) {
      const info = await backend.createShadowCopy({
        svm,
        shadowCopyId: c.shadowCopyId,
        share: { svm, share: c.share, volume: c.volume, sharePath: c.sharePath },
        files: c.files,
        writable: c.writable,
      });
      made.push({ ...c, clonePath: info.clonePath, bytes: BigInt(info.bytes), fileCount: info.fileCount });
    }
  } catch (err) {
    // A set either gets all its copies or none: remove what this attempt made before failing.
    for (const c of cmd.shadowCopies) await backend.deleteShadowCopy(ref(svm, c)).catch(() => undefined);
    throw err;
  }
  return [{ body: { $case: "shadowCopiesCreated", value: { shadowCopies: made } } }];
}

export async function exposeShadowCopies(backend: StorageBackend, svm: string, cmd: ExposeShadowCopies): Promise<StepResult> {
  const exposed: ShadowCopy[] = [];
  for (const c of cmd.shadowCopies) {
    const { accessPath } = await backend.exposeShadowCopy({ ...ref(svm, c), baseShare: c.share, exposedName: c.exposedName, writable: c.writable });
    exposed.push({ ...c, accessPath });
  }
  return [{ body: { $case: "shadowCopiesExposed", value: { shadowCopies: exposed } } }];
}

export async function sealShadowCopies(backend: StorageBackend, svm: string, cmd: SealShadowCopies): Promise<StepResult> {
  for (const c of cmd.shadowCopies) await backend.sealShadowCopy(ref(svm, c));
  return [{ body: { $case: "shadowCopiesSealed", value: { shadowCopies: cmd.shadowCopies } } }];
}

export async function takeSnapshots(backend: StorageBackend, svm: string, ctx: { backupId: string; setId: string }, cmd: TakeSnapshots): Promise<StepResult> {
  const out: StepResult = [];
  for (const s of cmd.snapshots) {
    const info = await backend.createSnapshot({ svm, volume: s.volume, name: s.name });
    const snapshot: VolumeSnapshot = {
      svm,
      volume: s.volume,
      name: s.name,
      createdAt: new Date(info.createdAt),
      backupId: ctx.backupId,
      setId: ctx.setId,
      shadowCopies: cmd.shadowCopies.filter((c) => c.volume === s.volume),
    };
    out.push({ body: { $case: "snapshotTaken", value: { snapshot } }, discriminator: s.volume });
  }
  return out;
}

export async function deleteShadowCopies(backend: StorageBackend, svm: string, cmd: DeleteShadowCopies): Promise<StepResult> {
  for (const c of cmd.shadowCopies) await backend.deleteShadowCopy(ref(svm, c));
  for (const s of cmd.snapshots) await backend.deleteSnapshot({ svm, volume: s.volume, name: s.name });
  return [
    {
      body: {
        $case: "shadowCopiesDeleted",
        value: { shadowCopyIds: cmd.shadowCopies.map((c) => c.shadowCopyId), deletedSnapshots: cmd.snapshots.map((s) => s.name), aborted: cmd.aborted },
      },
    },
  ];
}

export async function restoreFiles(backend: StorageBackend, cmd: RestoreFiles): Promise<StepResult> {
  const snap = cmd.snapshot!;
  const copy = cmd.shadowCopy!;
  const t = cmd.target?.kind;
  const target =
    t?.$case === "directory"
      ? ({ kind: "directory", path: t.value } as const)
      : ({ kind: "share", svm: t?.value.svm || snap.svm, share: t?.value.share || copy.share } as const);
  try {
    const files = await backend.restore({ snapshot: { svm: snap.svm, volume: snap.volume, name: snap.name }, shadowCopyId: copy.shadowCopyId, files: cmd.files, target });
    const bytes = files.reduce((n, f) => n + f.bytes, 0);
    return [
      {
        body: {
          $case: "restoreFinished",
          value: { restoreId: cmd.restoreId, ok: true, reason: "", code: "", files: files.map((f) => ({ ...f, bytes: BigInt(f.bytes) })), bytes: BigInt(bytes) },
        },
      },
    ];
  } catch (err) {
    // A bad request or a checksum mismatch will not improve with retries; I/O errors are retried.
    if (!isPermanent(err)) throw err;
    return [restoreFailed(cmd.restoreId, err)];
  }
}

export function restoreFailed(restoreId: string, err: unknown): StepResult[number] {
  const code = typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : "INTERNAL";
  return { body: { $case: "restoreFinished", value: { restoreId, ok: false, reason: errorMessage(err), code, files: [], bytes: 0n } } };
}

/** What the storage holds of what rvss makes, per SVM (all the backend knows when `svms` is empty), for the reconciler. */
export async function storageInventory(backend: StorageBackend, svms: string[]): Promise<StorageInventoryResponse> {
  const out: SvmInventory[] = [];
  for (const svm of svms.length > 0 ? svms : await backend.listSvms()) {
    out.push({
      svm,
      shadowCopies: (await backend.listShadowCopies(svm)).map((c) => ({ volume: c.volume, shadowCopyId: c.shadowCopyId, clonePath: c.clonePath })),
      exposedShares: (await backend.listExposedShares(svm)).map((e) => ({ name: e.name, volume: e.volume, shadowCopyId: e.shadowCopyId })),
      snapshots: (await backend.listSnapshots(svm)).filter((x) => parseSnapshotName(x.name) !== null).map((x) => ({ volume: x.volume, name: x.name, createdAt: new Date(x.createdAt) })),
    });
  }
  return { svms: out, errorCode: "", errorMessage: "" };
}
