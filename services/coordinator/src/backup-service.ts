/**
 * gRPC BackupService: managed backups. A backup is a dataset planned into shadow copy sets (one per
 * SVM, at most 64 shares); each set is queued on its SVM and driven through FSRVP by the engine.
 */
import { randomUUID } from "node:crypto";
import type { ServerWritableStream } from "@grpc/grpc-js";
import {
  ErrorCodes,
  RvssError,
  cancelManagedSet,
  checkDataset,
  checkRequestLimits,
  type RequestLimits,
  checkLabels,
  checkName,
  checkRetention,
  invalidArgument,
  isFinal,
  isReleased,
  matchesSelector,
  parseSelector,
  parseSnapshotName,
  resolveBackupRef,
  waitingPosition,
  newBackup,
  snapshotsOf,
  type BackupRecord,
  type Retention,
  type DatasetShare,
  type SvmRecord,
  type OnWriterError,
  BACKUP_KEYS,
  EVENTS_STREAM,
  backupEventSubject,
  backupIdOf,
  backupNameKey,
  deleteSnapshotCommandId,
  requestKey,
} from "@rvss/core";
import { decodeEvent, publishCommand, publishEvent, type Bus } from "@rvss/bus";
import { DeliverPolicy } from "@nats-io/jetstream";
import {
  Event,
  WriterErrorPolicy,
  type Backup,
  type BackupServiceServer,
  type CreateBackupRequest,
  type CreateBackupResponse,
  type WatchBackupRequest,
  type WatchBackupResponse,
} from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import type { Backups } from "./backups";
import { backupSnapshotToProto, backupToProto, liveSetOf } from "./convert";
import type { Deletions } from "./deletion";
import type { Engine } from "./engine";
import { remaining, unary } from "./grpc";
import { principalOf } from "./grpc-auth";
import { toServiceError } from "./grpc-errors";
import type { Planner } from "./planner";
import { getRestore, listRestores, restore } from "./restores";
import { backupCreatedEvent } from "./set-events";

export interface BackupServiceDeps {
  bus: Bus;
  engine: Engine;
  backups: Backups;
  planner: Planner;
  deletions: Deletions;
  log: Logger;
  limits: RequestLimits & { maxConcurrentCreates: number };
  /** Where directory restores may write (RVSS_RESTORE_ROOTS). */
  restoreRoots: readonly string[];
}

/** A backup to start, its fields checked. */
export interface BackupToStart {
  id: string;
  dataset: DatasetShare[];
  description: string;
  onWriterError: OnWriterError;
  requestId?: string;
  name?: string;
  labels?: Record<string, string>;
  schedule?: string;
  retention?: Retention;
}

/**
 * Stores a backup, announces it and admits it to the planner. Every step is idempotent on the ID, so
 * a scheduler replica that finds a tick's backup missing may start it again. A name is taken once.
 */
export async function startBackup(
  deps: Omit<BackupServiceDeps, "engine" | "deletions" | "limits" | "restoreRoots">,
  req: BackupToStart,
): Promise<void> {
  const { bus, backups, planner, log } = deps;
  if (req.name) await takeName(deps, req.name, req.id);
  const { plan: b, status } = newBackup({ ...req, now: Date.now() });
  await backups.create(b, status);
  await publishEvent(bus, backupCreatedEvent(b));
  log.info({ backupId: b.id, name: b.name, schedule: b.schedule, sets: b.sets.length }, "backup created");
  await planner.admit(b);
}

/** Reserves a backup name for `id`; a name whose backup was never stored (a crash between) is taken over. */
async function takeName(deps: Pick<BackupServiceDeps, "bus" | "backups">, name: string, id: string): Promise<void> {
  const key = backupNameKey(name);
  if (await deps.bus.state.create(key, id)) return;
  const prior = await deps.bus.state.get<string>(key);
  if (!prior || prior.value === id) return;
  if (
    !(await deps.backups.status(prior.value)) &&
    (await deps.bus.state.compareAndSet(key, id, prior.revision)) !== null
  )
    return;
  throw new RvssError(ErrorCodes.ALREADY_EXISTS, `backup name "${name}" is taken by backup ${prior.value}`, {
    field: "name",
    value: name,
    backupId: prior.value,
  });
}

const DEFAULT_RESTORE_TIMEOUT_MS = 30 * 60_000;
const DELETE_SNAPSHOT_WAIT_MS = 30_000;

export function backupService(deps: BackupServiceDeps): BackupServiceServer {
  const { bus, engine, backups, planner, deletions, log, limits, restoreRoots } = deps;
  /** CreateBackup calls in progress on this replica. */
  let creating = 0;

  /** The backup as it stands: live stages from the SVM records of its released sets, waiting positions from the plan. */
  async function view(b: BackupRecord): Promise<Backup> {
    const plan = await planner.state();
    const svms = new Map<string, SvmRecord | null>();
    for (const p of b.sets) {
      const released = isReleased(plan, { backupId: b.id, index: p.index });
      if (p.phase === "queued" && released && !svms.has(p.svm)) svms.set(p.svm, await engine.read(p.svm));
    }
    return backupToProto(b, (p) => ({
      ...liveSetOf(svms.get(p.svm) ?? null, b.id, p.index),
      waitingPosition: p.phase === "queued" ? waitingPosition(plan, { backupId: b.id, index: p.index }) : 0,
    }));
  }

  /** The backup a reference means: its ID, its name or a unique ID prefix. */
  async function resolve(ref: string): Promise<string> {
    const r = ref.trim();
    if (r === "") throw invalidArgument("name a backup by its ID, its name or a unique ID prefix", { field: "backup" });
    if (await backups.status(r)) return r;
    const named = await bus.state.get<string>(backupNameKey(r));
    if (named && (await backups.status(named.value))) return named.value;
    const ids = (await bus.state.keys(BACKUP_KEYS)).map((k) => ({ id: backupIdOf(k) }));
    return resolveBackupRef(r, ids);
  }

  async function mustGet(ref: string): Promise<BackupRecord> {
    const id = await resolve(ref);
    const b = await backups.get(id);
    if (!b) throw new RvssError(ErrorCodes.BACKUP_NOT_FOUND, `backup "${ref}" does not exist`, { backupId: ref });
    return b;
  }

  async function create(req: CreateBackupRequest): Promise<CreateBackupResponse> {
    const dataset = checkDataset(req.dataset);
    const name = req.name ? checkName("backup name", req.name) : undefined;
    const labels = checkLabels(req.labels);
    const retention = checkRetention(req.ttl, req.keepLast);
    if (req.requestId) {
      const prior = await bus.state.get<string>(requestKey(req.requestId));
      if (prior) return { backup: await view(await mustGet(prior.value)) };
    }
    const id = randomUUID();
    if (req.requestId && !(await bus.state.create(requestKey(req.requestId), id))) {
      const prior = await bus.state.get<string>(requestKey(req.requestId));
      return { backup: await view(await mustGet(prior!.value)) };
    }
    await startBackup(deps, {
      id,
      dataset,
      description: req.description,
      ...(req.requestId ? { requestId: req.requestId } : {}),
      onWriterError: req.onWriterError === WriterErrorPolicy.WRITER_ERROR_POLICY_CONTINUE ? "continue" : "fail",
      ...(name ? { name } : {}),
      labels,
      retention,
    });
    return { backup: await view((await backups.get(id))!) };
  }

  return {
    createBackup: unary(log, "CreateBackup", async (req) => {
      checkRequestLimits(req.dataset, limits);
      if (creating >= limits.maxConcurrentCreates)
        throw new RvssError(
          ErrorCodes.RESOURCE_EXHAUSTED,
          `${creating} CreateBackup calls are in progress, the limit (RVSS_MAX_CONCURRENT_CREATES=${limits.maxConcurrentCreates}); retry later`,
          { variable: "RVSS_MAX_CONCURRENT_CREATES", limit: limits.maxConcurrentCreates },
        );
      creating++;
      try {
        return await create(req);
      } finally {
        creating--;
      }
    }),

    getBackup: unary(log, "GetBackup", async (req) => ({ backup: await view(await mustGet(req.backupId)) })),

    listBackups: unary(log, "ListBackups", async (req) => {
      const selector = parseSelector(req.labelSelector);
      const picked = (await backups.list()).filter(
        (b) =>
          (req.all || b.status.state !== "Deleted") &&
          (!req.svm || b.plan.dataset.some((d) => d.svm === req.svm)) &&
          (!req.schedule || b.plan.schedule === req.schedule) &&
          matchesSelector(b.plan.labels ?? {}, selector),
      );
      return { backups: await Promise.all(picked.map(async (b) => view(await mustGet(b.plan.id)))) };
    }),

    deleteBackup: unary(log, "DeleteBackup", async (req) => {
      const b = await mustGet(req.backupId);
      await deletions.request(b, { reason: "deleted on request" });
      return { backup: await view(await mustGet(b.id)) };
    }),

    deleteSnapshot: unary(log, "DeleteSnapshot", async (req) => deleteUnownedSnapshot(req.svm, req.volume, req.name)),

    listRestores: unary(log, "ListRestores", async (req) => ({
      restores: await listRestores(bus, req.backupId ? await resolve(req.backupId) : ""),
    })),

    getRestore: unary(log, "GetRestore", async (req) => ({ restore: await getRestore(bus, req.restoreId) })),

    cancelBackup: unary(log, "CancelBackup", async (req) => {
      const b = await mustGet(req.backupId);
      if (isFinal(b.state)) return { backup: await view(b) };
      await backups.requestCancel(b.id);
      const never = await planner.withdraw(b.id);
      await backups.markWithdrawn(b.id, never);
      for (const p of b.sets) {
        if (!never.includes(p.index) && p.phase === "queued") {
          await engine.apply(p.svm, (s, env) => cancelManagedSet(s, { backupId: b.id, index: p.index }, env));
        }
      }
      return { backup: await view(await mustGet(b.id)) };
    }),

    listSnapshots: unary(log, "ListSnapshots", async (req) => {
      const ids = req.backupId
        ? [await resolve(req.backupId)]
        : (await backups.list()).filter((b) => b.status.state !== "Deleted").map((b) => b.plan.id);
      // A deleted backup's snapshots are gone.
      const records = (await Promise.all(ids.map((id) => backups.get(id)))).filter(
        (b): b is BackupRecord => b !== null && b.state !== "Deleted",
      );
      const snaps = records
        .flatMap((b) => snapshotsOf(b).map((s) => backupSnapshotToProto(s, b.id)))
        .filter((s) => (!req.svm || s.svm === req.svm) && (!req.volume || s.volume === req.volume));
      return { snapshots: snaps };
    }),

    restore: unary(log, "Restore", async (req, call) => {
      checkRequestLimits([{ files: req.files }], limits);
      const b = await mustGet(req.backupId);
      return restore(bus, b, req, principalOf(call), remaining(call, DEFAULT_RESTORE_TIMEOUT_MS), restoreRoots);
    }),

    watchBackup(call: ServerWritableStream<WatchBackupRequest, WatchBackupResponse>): void {
      watch(call).catch((err: unknown) => {
        call.emit("error", toServiceError(err));
      });
    },
  };

  /**
   * Removes an rvss snapshot no backup owns (its backup was deleted, or never recorded), through the
   * executor, and waits for its report. A snapshot of a live backup is refused: delete the backup.
   */
  async function deleteUnownedSnapshot(svm: string, volume: string, name: string): Promise<{ deleted: boolean }> {
    if (!svm || !volume || !name)
      throw invalidArgument("name the snapshot by svm, volume and name", { svm, volume, snapshot: name });
    const parsed = parseSnapshotName(name);
    if (!parsed)
      throw invalidArgument(
        `"${name}" is not a snapshot rvss made (rvss_<backup>_<set>_<time>); rvss deletes only its own`,
        {
          snapshot: name,
        },
      );
    const owner = await backups.status(parsed.backupId);
    if (owner && owner.state !== "Deleted")
      throw new RvssError(
        ErrorCodes.FAILED_PRECONDITION,
        `snapshot "${name}" belongs to backup ${parsed.backupId} (${owner.state}); delete the backup instead`,
        { snapshot: name, backupId: parsed.backupId },
      );
    const commandId = deleteSnapshotCommandId(parsed.backupId, randomUUID());
    const ctx = { commandId, svm, setId: "", backupId: parsed.backupId };
    await publishCommand(bus, "executor", {
      context: ctx,
      kind: {
        $case: "deleteSnapshots",
        value: { snapshots: [{ volume, name }], reason: "snapshot deleted on request" },
      },
    });
    const subject = backupEventSubject(parsed.backupId, "snapshotsDeleted");
    for (const until = Date.now() + DELETE_SNAPSHOT_WAIT_MS; Date.now() < until;) {
      const m = await bus.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject });
      if (m?.header.get("Nats-Msg-Id").startsWith(`${commandId}/`)) {
        const e = decodeEvent(m.subject, m.data);
        return { deleted: e.body?.$case === "snapshotsDeleted" && e.body.value.deleted.includes(name) };
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new RvssError(ErrorCodes.TIMEOUT, `no snapshot-executor removed snapshot "${name}" within 30 s; it goes on`, {
      snapshot: name,
    });
  }

  /** Replays the backup's events from its start, then follows them live until it finishes. */
  async function watch(call: ServerWritableStream<WatchBackupRequest, WatchBackupResponse>): Promise<void> {
    const b = await mustGet(call.request.backupId);
    const consumer = await bus.js.consumers.get(EVENTS_STREAM, {
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(b.createdAt - 1000).toISOString(),
    });
    const messages = await consumer.consume();
    call.on("cancelled", () => messages.stop());
    // Assembling the backup costs a read per ended set, so a large backup's stream carries it at most
    // once a second (and always with the first and the last event); the other events go alone.
    let shownAt = 0;
    try {
      for await (const m of messages) {
        const e = Event.decode(m.data);
        if (e.backupId !== b.id) continue;
        const last = e.body?.$case === "backupFinished";
        const show = last || shownAt === 0 || b.sets.length <= 50 || Date.now() - shownAt >= 1000;
        if (show) shownAt = Date.now();
        call.write(show ? { event: e, backup: await view(await mustGet(b.id)) } : { event: e });
        if (last) break;
      }
    } finally {
      messages.stop();
      await consumer.delete().catch(() => undefined);
    }
    call.end();
  }
}
