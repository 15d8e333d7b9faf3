/**
 * What snapshot-executor does for each command, as calls on the storage backend. Every step is
 * idempotent, because a command may come twice; a step that fails removes what it made itself.
 */
import {
  RvssError,
  backupStatusKey,
  checkCopiesOfSet,
  checkRemoval,
  checkRestoreTarget,
  checkSnapshotDeletion,
  checkSnapshotNames,
  checkSnapshotRoom,
  errorMessage,
  isPermanent,
  mapLimit,
  parseSnapshotName,
  snapshotVerificationEventId,
  svmKey,
  PHASE_SERVICES,
  type BackupStatus,
  type SvmRecord,
} from "@rvss/core";
import type {
  Event,
  ExecutorCommand,
  CreateShadowCopies,
  DeleteShadowCopies,
  DeleteSnapshots,
  ExposeShadowCopies,
  RestoreFiles,
  SealShadowCopies,
  ShadowCopy,
  FinalizeShadowCopies,
  StorageInventoryResponse,
  SvmInventory,
  Verification,
  VolumeSnapshot,
} from "@rvss/proto";
import { Step, VerificationState, verificationStateToJSON } from "@rvss/proto";
import type { PhaseResult, StateStore } from "@rvss/bus";
import type { RestoreDestination, SnapshotRef, SnapshotVerification, StorageBackend } from "@rvss/storage";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { reportProgress } from "./progress";

/** Reports one result of a step as soon as it is true. */
export type Emit = (r: PhaseResult) => Promise<void>;

/** Storage operations of one command run this many at a time (ONTAP runs clones and snapshots as parallel jobs). */
const PARALLEL = 8;

function ref(svm: string, c: ShadowCopy) {
  return { svm, volume: c.volume, shadowCopyId: c.shadowCopyId };
}

/**
 * Refuses, before storage is touched, a command whose targets the SVM record does not hold: copies
 * must be the set's as recorded, a removal may take only what a pending removal lists (or what is
 * already gone), and every name that becomes a path is one plain name. Restores are checked by
 * the backend against the snapshot they read (names) and against the restore roots.
 */
export async function checkTargets(backend: StorageBackend, state: StateStore, cmd: ExecutorCommand): Promise<void> {
  const svm = cmd.context?.svm ?? "";
  const setId = cmd.context?.setId ?? "";
  const k = cmd.kind;
  if (!k) return;
  if (k.$case === "deleteSnapshots") {
    // The coordinator records Deleting before it sends the command (and reads go to the leader).
    const backupId = cmd.context?.backupId ?? "";
    const status = backupId ? await state.get<BackupStatus>(backupStatusKey(backupId)) : null;
    return checkSnapshotDeletion({ backupId, state: status?.value.state ?? null }, k.value.snapshots);
  }
  const record = svm ? ((await state.get<SvmRecord>(svmKey(svm)))?.value ?? null) : null;
  switch (k.$case) {
    case "createShadowCopies":
    case "exposeShadowCopies":
    case "sealShadowCopies":
      return checkCopiesOfSet(record, svm, setId, k.value.shadowCopies);
    case "finalizeShadowCopies":
      checkCopiesOfSet(record, svm, setId, k.value.shadowCopies);
      for (const s of k.value.snapshots) checkSnapshotNames(s);
      return;
    case "deleteShadowCopies": {
      // Storage is listed only for what the record does not name: the usual removal costs no listing.
      let copies: Promise<Set<string>> | undefined;
      let snaps: Promise<Set<string>> | undefined;
      return checkRemoval(
        record,
        svm,
        setId,
        { copies: k.value.shadowCopies, snapshots: k.value.snapshots },
        {
          copy: async (c) =>
            (
              await (copies ??= backend
                .listShadowCopies(svm)
                .then((l) => new Set(l.map((x) => `${x.volume}/${x.shadowCopyId.toLowerCase()}`))))
            ).has(`${c.volume}/${c.shadowCopyId.toLowerCase()}`),
          snapshot: async (x) =>
            (
              await (snaps ??= backend.listSnapshots(svm).then((l) => new Set(l.map((y) => `${y.volume}/${y.name}`))))
            ).has(`${x.volume}/${x.name}`),
        },
      );
    }
    case "restoreFiles": {
      const snap = k.value.snapshot;
      if (snap) checkSnapshotNames(snap);
      return;
    }
  }
}

/**
 * `lastTry`: no delivery follows if this one fails, so the step fails for good. Before anything is
 * cloned, every volume of the set must have room for its snapshot under `maxSnapshots`: a full
 * volume fails the set here, naming it, instead of the snapshot failing on the storage at the end.
 */
export async function createShadowCopies(
  backend: StorageBackend,
  svm: string,
  cmd: CreateShadowCopies,
  emit: Emit,
  lastTry: boolean,
  maxSnapshots: number,
): Promise<void> {
  const volumes = new Set(cmd.shadowCopies.map((c) => c.volume));
  const counts = new Map([...volumes].map((v) => [v, 0]));
  for (const x of await backend.listSnapshots(svm))
    if (counts.has(x.volume)) counts.set(x.volume, counts.get(x.volume)! + 1);
  checkSnapshotRoom(svm, counts, maxSnapshots);
  let made: ShadowCopy[];
  const progress = reportProgress(emit, Step.STEP_CREATE);
  try {
    made = await mapLimit(cmd.shadowCopies, PARALLEL, async (c) => {
      const info = await backend.createShadowCopy({
        svm,
        shadowCopyId: c.shadowCopyId,
        share: { svm, share: c.share, volume: c.volume, sharePath: c.sharePath },
        files: c.files,
        writable: c.writable,
        onProgress: progress.part(c.shadowCopyId),
      });
      return { ...c, clonePath: info.clonePath, bytes: BigInt(info.bytes), fileCount: info.fileCount };
    });
    progress.stop();
  } catch (err) {
    progress.stop();
    // Failed for good, a set gets none of its copies. A failure that will be retried keeps what
    // was made: the retry finds it, and a twin of this command may already have reported it.
    if (lastTry || isPermanent(err))
      await mapLimit(cmd.shadowCopies, PARALLEL, (c) => backend.deleteShadowCopy(ref(svm, c)).catch(() => undefined));
    throw err;
  }
  await emit({ body: { $case: "shadowCopiesCreated", value: { shadowCopies: made } } });
}

export async function exposeShadowCopies(
  backend: StorageBackend,
  svm: string,
  cmd: ExposeShadowCopies,
  emit: Emit,
): Promise<void> {
  const exposed = await mapLimit(cmd.shadowCopies, PARALLEL, async (c) => {
    const { accessPath } = await backend.exposeShadowCopy({
      ...ref(svm, c),
      baseShare: c.share,
      exposedName: c.exposedName,
      writable: c.writable,
    });
    return { ...c, accessPath };
  });
  await emit({ body: { $case: "shadowCopiesExposed", value: { shadowCopies: exposed } } });
}

export async function sealShadowCopies(
  backend: StorageBackend,
  svm: string,
  cmd: SealShadowCopies,
  emit: Emit,
): Promise<void> {
  await mapLimit(cmd.shadowCopies, PARALLEL, (c) => backend.sealShadowCopy(ref(svm, c)));
  await emit({ body: { $case: "shadowCopiesSealed", value: { shadowCopies: cmd.shadowCopies } } });
}

/**
 * Seal, one snapshot per volume, removal: each part reports as soon as it is done. Delivered again
 * after it completed (its acknowledgement was lost), it finds its snapshots taken and its copies gone:
 * it then reports the same events again (JetStream drops the repeats) instead of failing.
 * Each snapshot taken is handed to `verify`, which checksums it later, off this critical path.
 */
export async function finalizeShadowCopies(
  backend: StorageBackend,
  svm: string,
  ctx: { backupId: string; setId: string },
  cmd: FinalizeShadowCopies,
  emit: Emit,
  verify: (ref: SnapshotRef) => void = () => undefined,
): Promise<void> {
  try {
    await sealShadowCopies(backend, svm, { shadowCopies: cmd.shadowCopies }, emit);
  } catch (err) {
    // Read only when the seal fails (a redelivery whose copies are gone), not on every set's path.
    const taken = new Set((await backend.listSnapshots(svm)).map((x) => `${x.volume}/${x.name}`));
    if (!(cmd.snapshots.length > 0 && cmd.snapshots.every((x) => taken.has(`${x.volume}/${x.name}`)))) throw err;
    await emit({ body: { $case: "shadowCopiesSealed", value: { shadowCopies: cmd.shadowCopies } } });
  }
  const verified = await verifies(backend, svm);
  await mapLimit(cmd.snapshots, PARALLEL, async (s) => {
    const held = cmd.shadowCopies.filter((c) => c.volume === s.volume).map((c) => c.shadowCopyId);
    const info = await backend.createSnapshot({ svm, volume: s.volume, name: s.name, shadowCopyIds: held });
    const snapshot: VolumeSnapshot = {
      svm,
      volume: s.volume,
      name: s.name,
      createdAt: new Date(info.createdAt),
      backupId: ctx.backupId,
      setId: ctx.setId,
      shadowCopies: cmd.shadowCopies.filter((c) => c.volume === s.volume),
      verification: {
        state: verified ? VerificationState.VERIFICATION_STATE_PENDING : VerificationState.VERIFICATION_STATE_NONE,
        reason: "",
        code: "",
        file: "",
        files: 0,
        bytes: 0n,
      },
    };
    await emit({ body: { $case: "snapshotTaken", value: { snapshot } }, discriminator: s.volume });
    if (verified) verify({ svm, volume: s.volume, name: s.name });
  });
  // The backup completes when its live volumes hold no copy: their removal is waited for here.
  await deleteShadowCopies(
    backend,
    svm,
    { shadowCopies: cmd.shadowCopies, snapshots: [], aborted: false, reason: "" },
    emit,
    true,
  );
}

/** Whether the backend checksums this SVM's snapshots (verifySnapshot works for them). */
export async function verifies(backend: StorageBackend, svm: string): Promise<boolean> {
  return backend.verifySnapshot !== undefined && ((await backend.verifies?.(svm)) ?? true);
}

/**
 * `settle`: wait until the backend removed the copies' files, which it otherwise does after a
 * deletion returned (DeleteShareMapping answers once the copy is unreachable).
 */
export async function deleteShadowCopies(
  backend: StorageBackend,
  svm: string,
  cmd: DeleteShadowCopies,
  emit: Emit,
  settle = false,
): Promise<void> {
  await mapLimit(cmd.shadowCopies, PARALLEL, (c) => backend.deleteShadowCopy(ref(svm, c)));
  if (settle) await backend.finishRemovals?.();
  await mapLimit(cmd.snapshots, PARALLEL, (s) => backend.deleteSnapshot({ svm, volume: s.volume, name: s.name }));
  await emit({
    body: {
      $case: "shadowCopiesDeleted",
      value: {
        shadowCopyIds: cmd.shadowCopies.map((c) => c.shadowCopyId),
        deletedSnapshots: cmd.snapshots.map((s) => s.name),
        aborted: cmd.aborted,
      },
    },
  });
}

/**
 * Removes snapshots of one SVM (a deleted backup's, or one no backup owns). A snapshot already gone
 * is reported as such, not as an error, so a redelivered command after a crash finishes the job.
 */
export async function deleteSnapshots(
  backend: StorageBackend,
  svm: string,
  cmd: DeleteSnapshots,
  emit: Emit,
): Promise<void> {
  const present = new Set((await backend.listSnapshots(svm)).map((x) => `${x.volume}/${x.name}`));
  const gone = cmd.snapshots.filter((s) => !present.has(`${s.volume}/${s.name}`));
  const there = cmd.snapshots.filter((s) => present.has(`${s.volume}/${s.name}`));
  await mapLimit(there, PARALLEL, (s) => backend.deleteSnapshot({ svm, volume: s.volume, name: s.name }));
  await emit({
    body: {
      $case: "snapshotsDeleted",
      value: { deleted: there.map((s) => s.name), alreadyGone: gone.map((s) => s.name) },
    },
  });
}

/**
 * A directory target must lie under a restore root, also once the links of what already exists of
 * it are resolved (a directory swapped for a symlink must not carry the restore elsewhere). Returns
 * that root: the storage follows no link below it.
 */
async function checkRestoreDirectory(target: string, roots: readonly string[]): Promise<string> {
  const root = checkRestoreTarget(target, roots);
  let existing = target;
  for (;;) {
    try {
      const real = await fsp.realpath(existing);
      const realRoots = await Promise.all(roots.map((r) => fsp.realpath(r).catch(() => r)));
      checkRestoreTarget(path.join(real, path.relative(existing, target)), realRoots);
      return root;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || existing === "/") throw err;
      existing = path.dirname(existing);
    }
  }
}

export async function restoreFiles(
  backend: StorageBackend,
  cmd: RestoreFiles,
  emit: Emit,
  restoreRoots: readonly string[],
): Promise<void> {
  const snap = cmd.snapshot!;
  const copy = cmd.shadowCopy!;
  const t = cmd.target?.kind;
  const progress = reportProgress(emit, Step.STEP_RESTORE, cmd.restoreId);
  try {
    const target: RestoreDestination =
      t?.$case === "directory"
        ? { kind: "directory", path: t.value, root: await checkRestoreDirectory(t.value, restoreRoots) }
        : { kind: "share", svm: t?.value.svm || snap.svm, share: t?.value.share || copy.share };
    const files = await backend.restore({
      snapshot: { svm: snap.svm, volume: snap.volume, name: snap.name },
      shadowCopyId: copy.shadowCopyId,
      files: cmd.files,
      target,
      overwrite: cmd.overwrite,
      onProgress: progress.part(copy.shadowCopyId),
    });
    progress.stop();
    const bytes = files.reduce((n, f) => n + f.bytes, 0);
    await emit({
      body: {
        $case: "restoreFinished",
        value: {
          restoreId: cmd.restoreId,
          ok: true,
          reason: "",
          code: "",
          files: files.map((f) => ({ ...f, bytes: BigInt(f.bytes) })),
          bytes: BigInt(bytes),
        },
      },
    });
  } catch (err) {
    progress.stop();
    // A bad request or a checksum mismatch will not improve with retries; I/O errors are retried.
    if (!isPermanent(err)) throw err;
    await emit(restoreFailed(cmd.restoreId, err));
  }
}

export function restoreFailed(restoreId: string, err: unknown): PhaseResult {
  const code = RvssError.from(err).code;
  return {
    body: {
      $case: "restoreFinished",
      value: { restoreId, ok: false, reason: errorMessage(err), code, files: [], bytes: 0n },
    },
  };
}

/** What the storage holds of what rvss makes, per SVM (all the backend knows when `svms` is empty), for the reconciler. */
export async function storageInventory(backend: StorageBackend, svms: string[]): Promise<StorageInventoryResponse> {
  const out: SvmInventory[] = [];
  for (const svm of svms.length > 0 ? svms : await backend.listSvms()) {
    out.push({
      svm,
      shadowCopies: (await backend.listShadowCopies(svm)).map((c) => ({
        volume: c.volume,
        shadowCopyId: c.shadowCopyId,
        clonePath: c.clonePath,
      })),
      exposedShares: (await backend.listExposedShares(svm)).map((e) => ({
        name: e.name,
        volume: e.volume,
        shadowCopyId: e.shadowCopyId,
      })),
      snapshots: (await backend.listSnapshots(svm))
        .filter((x) => parseSnapshotName(x.name) !== null)
        .map((x) => ({ volume: x.volume, name: x.name, createdAt: new Date(x.createdAt) })),
    });
  }
  return { svms: out, errorCode: "", errorMessage: "" };
}

/** What the verifier says of a snapshot as it goes: it began, ended (and how), or will never be verified. */
export type VerificationReporter = (ref: SnapshotRef, v: Verification) => Promise<void>;

type Reported = Partial<Verification> & Pick<Verification, "state">;

/**
 * Checksums snapshots for restore verification one at a time, after their backups completed (the
 * backend throttles the reads), and reports each state a snapshot reaches. At start it takes up
 * every snapshot not verified yet, so one that a stopped executor left is verified too, and reports
 * again a verification whose report the coordinator does not hold (`recorded`). A failure is
 * reported and logged; a restore then compares against the snapshot itself. That a backend keeps
 * no checksums (ONTAP) the snapshot's SnapshotTaken says, and nothing is reported here.
 */
export class Verifier {
  private queue: SnapshotRef[] = [];
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly backend: StorageBackend,
    private readonly report: VerificationReporter,
    private readonly onError: (ref: SnapshotRef, err: unknown) => void,
  ) {}

  add(ref: SnapshotRef): void {
    if (!this.backend.verifySnapshot || this.stopped) return;
    this.queue.push(ref);
    this.running ??= this.drain().finally(() => (this.running = null));
  }

  /**
   * Queues the snapshots of `svms` (all the backend knows when empty) that have no verification,
   * and reports again those verified whose report `recorded` says the coordinator lacks.
   */
  async sweep(svms: string[], recorded: (ref: SnapshotRef) => Promise<boolean>): Promise<void> {
    const backend = this.backend;
    if (!backend.snapshotVerification) return;
    for (const svm of svms.length > 0 ? svms : await backend.listSvms()) {
      if (!(await verifies(backend, svm))) continue;
      for (const s of await backend.listSnapshots(svm)) {
        const ref = { svm, volume: s.volume, name: s.name };
        const done = await backend.snapshotVerification(ref);
        if (!done) this.add(ref);
        else if (!(await recorded(ref))) await this.tell(ref, verified(done));
      }
    }
  }

  private async drain(): Promise<void> {
    for (let ref = this.queue.shift(); ref && !this.stopped; ref = this.queue.shift()) {
      const done = await this.backend.snapshotVerification?.(ref).catch(() => null);
      if (done) {
        // Handed over again (a finalize delivered twice): verified before.
        await this.tell(ref, verified(done));
        continue;
      }
      await this.tell(ref, { state: VerificationState.VERIFICATION_STATE_VERIFYING });
      try {
        await this.tell(ref, verified(await this.backend.verifySnapshot!(ref)));
      } catch (err) {
        this.onError(ref, err);
        const e = RvssError.from(err);
        await this.tell(ref, {
          state: VerificationState.VERIFICATION_STATE_FAILED,
          reason: e.message,
          code: e.code,
          file: typeof e.details.file === "string" ? e.details.file : "",
        });
      }
    }
  }

  /** A report that cannot be published is logged; the sweep at the next start sends it again. */
  private async tell(ref: SnapshotRef, v: Reported): Promise<void> {
    const full: Verification = { reason: "", code: "", file: "", files: 0, bytes: 0n, at: new Date(), ...v };
    await this.report(ref, full).catch((err: unknown) => this.onError(ref, err));
  }

  /** Stops after the snapshot being read (a stopped one is taken up again at the next start). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Resolves when nothing is queued or running (for tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}

/** The report of a verification the backend holds; its time is the verification's, so a repeat is one event. */
function verified(v: SnapshotVerification): Reported {
  const files = Object.values(v.shadowCopies).flatMap((c) => Object.values(c.files));
  return {
    state: VerificationState.VERIFICATION_STATE_VERIFIED,
    files: files.length,
    bytes: BigInt(files.reduce((n, f) => n + f.bytes, 0)),
    at: new Date(v.verifiedAt),
  };
}

/** The event of a verification report, or null for a snapshot whose name rvss did not make. */
export function verificationEvent(ref: SnapshotRef, v: Verification): Event | null {
  const parts = parseSnapshotName(ref.name);
  if (!parts) return null;
  const at = v.at?.getTime() ?? Date.now();
  return {
    eventId: snapshotVerificationEventId(ref.svm, ref.volume, ref.name, verificationStateToJSON(v.state), at),
    time: new Date(),
    svm: ref.svm,
    // A backup event: it comes after the set ended (the set is in the snapshot's name).
    setId: "",
    backupId: parts.backupId,
    source: PHASE_SERVICES.executor,
    body: { $case: "snapshotVerification", value: { volume: ref.volume, name: ref.name, verification: v } },
  };
}
