/** gRPC ScheduleService: thin wiring of the schedule records (schedules.ts) to the contracts. */
import { nextTick, type Schedule } from "@rvss/core";
import { WriterErrorPolicy, type Schedule as ScheduleProto, type ScheduleServiceServer } from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import { unary } from "./grpc";
import { selectionToProto } from "./convert";
import { tickOutcomeToProto, type Schedules } from "./schedules";

export function scheduleToProto(s: Schedule): ScheduleProto {
  const next = s.paused ? null : nextTick(s, Math.max(s.lastTick, Date.now()));
  return {
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    dataset: s.dataset.map((d) => selectionToProto(d.svm, d)),
    description: s.description,
    ttl: s.retention.ttl ?? "",
    keepLast: s.retention.keepLast ?? 0,
    onWriterError:
      s.onWriterError === "continue"
        ? WriterErrorPolicy.WRITER_ERROR_POLICY_CONTINUE
        : WriterErrorPolicy.WRITER_ERROR_POLICY_FAIL,
    paused: s.paused,
    createdAt: new Date(s.createdAt),
    updatedAt: new Date(s.updatedAt),
    lastTick: new Date(s.lastTick),
    ...(next !== null ? { nextTick: new Date(next) } : {}),
    lastBackupId: s.lastBackupId ?? "",
    history: s.history.map((t) => ({
      tick: new Date(t.tick),
      outcome: tickOutcomeToProto(t.outcome),
      backupId: t.backupId ?? "",
      reason: t.reason ?? "",
      passedOver: t.passedOver ?? 0,
    })),
  };
}

export function scheduleService(schedules: Schedules, log: Logger): ScheduleServiceServer {
  return {
    createSchedule: unary(log, "CreateSchedule", async (req) => ({
      schedule: scheduleToProto(await schedules.create(req)),
    })),
    getSchedule: unary(log, "GetSchedule", async (req) => ({
      schedule: scheduleToProto(await schedules.get(req.name)),
    })),
    listSchedules: unary(log, "ListSchedules", async () => ({
      schedules: (await schedules.list()).map(scheduleToProto),
    })),
    pauseSchedule: unary(log, "PauseSchedule", async (req) => ({
      schedule: scheduleToProto(await schedules.setPaused(req.name, true)),
    })),
    unpauseSchedule: unary(log, "UnpauseSchedule", async (req) => ({
      schedule: scheduleToProto(await schedules.setPaused(req.name, false)),
    })),
    deleteSchedule: unary(log, "DeleteSchedule", async (req) => {
      await schedules.delete(req.name);
      return {};
    }),
    runSchedule: unary(log, "RunSchedule", async (req) => ({ backupId: await schedules.runNow(req.name) })),
  };
}
