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
  isFinal,
  isReleased,
  waitingPosition,
  newBackup,
  snapshotsOf,
  type BackupRecord,
  type SvmRecord,
  EVENTS_STREAM,
} from "@rvss/core";
import { publishEvent, type Bus } from "@rvss/bus";
import { DeliverPolicy } from "@nats-io/jetstream";
import {
  Event,
  WriterErrorPolicy,
  type Backup,
  type BackupServiceServer,
  type WatchBackupRequest,
  type WatchBackupResponse,
} from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import type { Backups } from "./backups";
import { backupSnapshotToProto, backupToProto, liveSetOf } from "./convert";
import type { Engine } from "./engine";
import { remaining, unary } from "./grpc";
import { toServiceError } from "./grpc-errors";
import { requestKey } from "@rvss/core";
import type { Planner } from "./planner";
import { restore } from "./restores";
import { backupCreatedEvent } from "./set-events";

export interface BackupServiceDeps {
  bus: Bus;
  engine: Engine;
  backups: Backups;
  planner: Planner;
  log: Logger;
}

const DEFAULT_RESTORE_TIMEOUT_MS = 30 * 60_000;

export function backupService(deps: BackupServiceDeps): BackupServiceServer {
  const { bus, engine, backups, planner, log } = deps;

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

  async function mustGet(id: string): Promise<BackupRecord> {
    const b = id ? await backups.get(id) : null;
    if (!b) throw new RvssError(ErrorCodes.BACKUP_NOT_FOUND, `backup "${id}" does not exist`, { backupId: id });
    return b;
  }

  return {
    createBackup: unary(log, "CreateBackup", async (req) => {
      const dataset = checkDataset(req.dataset);
      if (req.requestId) {
        const prior = await bus.state.get<string>(requestKey(req.requestId));
        if (prior) return { backup: await view(await mustGet(prior.value)) };
      }
      const { plan: b, status } = newBackup({
        id: randomUUID(),
        dataset,
        description: req.description,
        ...(req.requestId ? { requestId: req.requestId } : {}),
        onWriterError: req.onWriterError === WriterErrorPolicy.WRITER_ERROR_POLICY_CONTINUE ? "continue" : "fail",
        now: Date.now(),
      });
      if (req.requestId && !(await bus.state.create(requestKey(req.requestId), b.id))) {
        const prior = await bus.state.get<string>(requestKey(req.requestId));
        return { backup: await view(await mustGet(prior!.value)) };
      }
      await backups.create(b, status);
      await publishEvent(bus, backupCreatedEvent(b));
      log.info({ backupId: b.id, sets: b.sets.length }, "backup created");
      await planner.admit(b);
      return { backup: await view((await backups.get(b.id))!) };
    }),

    getBackup: unary(log, "GetBackup", async (req) => ({ backup: await view(await mustGet(req.backupId)) })),

    listBackups: unary(log, "ListBackups", async (req) => {
      const all = await backups.list();
      const picked = req.svm ? all.filter((b) => b.plan.dataset.some((d) => d.svm === req.svm)) : all;
      return { backups: await Promise.all(picked.map(async (b) => view(await mustGet(b.plan.id)))) };
    }),

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
      const ids = req.backupId ? [req.backupId] : (await backups.list()).map((b) => b.plan.id);
      const records = (await Promise.all(ids.map((id) => backups.get(id)))).filter(
        (b): b is BackupRecord => b !== null,
      );
      const snaps = records
        .flatMap((b) => snapshotsOf(b).map((s) => backupSnapshotToProto(s, b.id)))
        .filter((s) => (!req.svm || s.svm === req.svm) && (!req.volume || s.volume === req.volume));
      return { snapshots: snaps };
    }),

    restore: unary(log, "Restore", async (req, call) => {
      const b = await mustGet(req.backupId);
      return restore(bus, b, req, remaining(call, DEFAULT_RESTORE_TIMEOUT_MS));
    }),

    watchBackup(call: ServerWritableStream<WatchBackupRequest, WatchBackupResponse>): void {
      watch(call).catch((err: unknown) => {
        call.emit("error", toServiceError(err));
      });
    },
  };

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
