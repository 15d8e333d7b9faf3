/**
 * Schedules in service: durable records (`schedule.<name>` in KV) and the scheduler that runs in
 * every coordinator replica, once a second. A tick fires once across replicas and restarts because
 * it is claimed by compare-and-set on the schedule's record: the decision (core's decideTick) moves
 * `lastTick` to the tick, so of two replicas deciding on the same revision one write wins and the
 * other, reading again, finds the tick decided. The tick's backup ID is derived from schedule and
 * tick, so a replica that finds a fired tick's backup missing (its claimer died before creating it)
 * starts that same backup, and nothing can start it twice.
 */
import { randomUUID } from "node:crypto";
import {
  ErrorCodes,
  MAX_SCHEDULE_NAME,
  SCHEDULE_KEYS,
  scheduleKey,
  scheduleTickedEventId,
  scheduledBackupId,
  RvssError,
  checkDataset,
  checkName,
  checkRetention,
  checkScheduleSpec,
  decideTick,
  recordRunNow,
  scheduledBackupName,
  setPaused,
  type Schedule,
  type TickDecision,
  type TickRecord,
} from "@rvss/core";
import { publishEvent, type Bus } from "@rvss/bus";
import { TickOutcome, WriterErrorPolicy, type CreateScheduleRequest } from "@rvss/proto";
import { scheduleTicks, type Logger } from "@rvss/runtime";
import type { BackupToStart } from "./backup-service";
import type { Backups } from "./backups";
import { every } from "./periodic";

/**
 * Passes start just after each second: cron's finest unit, so a tick is decided within milliseconds
 * of its time (and every replica tries at that moment: the claim decides).
 */
const nextSecond = (): number => 1000 - (Date.now() % 1000) + 5;
/** How long after its claim a fired tick's missing backup counts as abandoned. */
const START_GRACE_MS = 10_000;

const outcomeOf: Record<TickRecord["outcome"], TickOutcome> = {
  fired: TickOutcome.TICK_OUTCOME_FIRED,
  skipped: TickOutcome.TICK_OUTCOME_SKIPPED,
  missed: TickOutcome.TICK_OUTCOME_MISSED,
};

export function tickOutcomeToProto(o: TickRecord["outcome"]): TickOutcome {
  return outcomeOf[o];
}

export class Schedules {
  constructor(
    private readonly bus: Bus,
    private readonly backups: Backups,
    private readonly startBackup: (b: BackupToStart) => Promise<void>,
    private readonly catchUpMs: number,
    private readonly log: Logger,
  ) {}

  async create(req: CreateScheduleRequest): Promise<Schedule> {
    const name = checkName("schedule name", req.name, MAX_SCHEDULE_NAME);
    const spec = checkScheduleSpec({ cron: req.cron, timezone: req.timezone });
    const now = Date.now();
    const s: Schedule = {
      name,
      ...spec,
      dataset: checkDataset(req.dataset),
      description: req.description,
      retention: checkRetention(req.ttl, req.keepLast),
      onWriterError: req.onWriterError === WriterErrorPolicy.WRITER_ERROR_POLICY_CONTINUE ? "continue" : "fail",
      paused: req.paused,
      createdAt: now,
      updatedAt: now,
      lastTick: now,
      history: [],
    };
    if (!(await this.bus.state.create(scheduleKey(name), s)))
      throw new RvssError(ErrorCodes.ALREADY_EXISTS, `schedule "${name}" exists already`, { schedule: name });
    this.log.info({ schedule: name, cron: s.cron, timezone: s.timezone }, "schedule created");
    return s;
  }

  async get(name: string): Promise<Schedule> {
    const s = name ? await this.bus.state.get<Schedule>(scheduleKey(name)) : null;
    if (!s) throw new RvssError(ErrorCodes.SCHEDULE_NOT_FOUND, `schedule "${name}" does not exist`, { schedule: name });
    return s.value;
  }

  async list(): Promise<Schedule[]> {
    return (await this.bus.state.list<Schedule>(SCHEDULE_KEYS))
      .map((v) => v.value)
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Changes a schedule with `fn` (pure); SCHEDULE_NOT_FOUND when there is none. */
  private async change(name: string, fn: (s: Schedule) => Schedule): Promise<Schedule> {
    const out = await this.bus.state.mutate<Schedule, Schedule | null>(scheduleKey(name), (cur) => {
      if (!cur) return { next: undefined, result: null };
      const next = fn(cur.value);
      return { next: next === cur.value ? undefined : next, result: next };
    });
    if (!out)
      throw new RvssError(ErrorCodes.SCHEDULE_NOT_FOUND, `schedule "${name}" does not exist`, { schedule: name });
    return out;
  }

  setPaused(name: string, paused: boolean): Promise<Schedule> {
    return this.change(name, (s) => setPaused(s, paused, Date.now()));
  }

  /** Removes the schedule; its backups stay. */
  async delete(name: string): Promise<void> {
    await this.get(name);
    await this.bus.state.delete(scheduleKey(name));
    this.log.info({ schedule: name }, "schedule deleted");
  }

  /** Starts a backup of the schedule now; the next tick waits for it like for a tick's. */
  async runNow(name: string): Promise<string> {
    const s = await this.get(name);
    const id = randomUUID();
    const now = Date.now();
    await this.startBackup(this.backupOf(s, id, scheduledBackupName(s.name, now, true)));
    await this.change(name, (cur) => recordRunNow(cur, id, now));
    return id;
  }

  private backupOf(s: Schedule, id: string, name: string): BackupToStart {
    return {
      id,
      dataset: s.dataset,
      description: s.description || `schedule ${s.name}`,
      onWriterError: s.onWriterError,
      name,
      schedule: s.name,
      retention: s.retention,
    };
  }

  /** One pass over every schedule at `now`. */
  async tick(now = Date.now()): Promise<void> {
    for (const s of await this.list()) {
      try {
        await this.tickOne(s, now);
      } catch (err) {
        this.log.error(
          { schedule: s.name, err: err instanceof Error ? err.message : String(err) },
          "schedule tick failed",
        );
      }
    }
  }

  private async tickOne(s: Schedule, now: number): Promise<void> {
    // A claimer that lives starts its tick's backup within milliseconds of the claim; one that has
    // not after a while died between the two, and any replica starts that same backup.
    const last = s.history.at(-1);
    const stale = now - s.updatedAt > START_GRACE_MS;
    if (stale && last?.outcome === "fired" && last.backupId && !(await this.backups.status(last.backupId))) {
      this.log.warn(
        { schedule: s.name, tick: new Date(last.tick).toISOString(), backupId: last.backupId },
        "a fired tick's backup was never started (its replica died); starting it",
      );
      await this.startBackup(this.backupOf(s, last.backupId, scheduledBackupName(s.name, last.tick)));
    }
    const prev = s.lastBackupId ? await this.backups.status(s.lastBackupId) : null;
    const running = prev?.state === "Running" ? s.lastBackupId! : null;
    const decided = await this.bus.state.mutate<Schedule, Exclude<TickDecision, { kind: "none" }> | null>(
      scheduleKey(s.name),
      (cur) => {
        // The previous run was looked at for this record; a record changed since is decided on the next pass.
        if (!cur || cur.value.lastBackupId !== s.lastBackupId || cur.value.createdAt !== s.createdAt)
          return { next: undefined, result: null };
        const d = decideTick(cur.value, now, this.catchUpMs, running, (t) =>
          scheduledBackupId(cur.value.name, cur.value.createdAt, t),
        );
        return d.kind === "none" ? { next: undefined, result: null } : { next: d.schedule, result: d };
      },
    );
    if (!decided) return;
    const t = decided.tick;
    scheduleTicks.inc({ schedule: s.name, outcome: t.outcome });
    if (decided.kind === "fire") await this.fire(decided.schedule, t);
    else
      this.log.warn(
        { schedule: s.name, tick: new Date(t.tick).toISOString() },
        `schedule tick ${t.outcome}: ${t.reason}`,
      );
    await publishEvent(this.bus, {
      eventId: scheduleTickedEventId(s.name, t.tick),
      time: new Date(now),
      svm: "",
      setId: "",
      backupId: t.backupId ?? "",
      source: "coordinator",
      body: {
        $case: "scheduleTicked",
        value: {
          schedule: s.name,
          tick: new Date(t.tick),
          outcome: outcomeOf[t.outcome],
          backupId: t.backupId ?? "",
          reason: t.reason ?? "",
          passedOver: t.passedOver ?? 0,
        },
      },
    });
  }

  private async fire(s: Schedule, t: TickRecord): Promise<void> {
    this.log.info(
      { schedule: s.name, tick: new Date(t.tick).toISOString(), backupId: t.backupId, passedOver: t.passedOver },
      "schedule tick fired",
    );
    await this.startBackup(this.backupOf(s, t.backupId!, scheduledBackupName(s.name, t.tick)));
  }

  /** The scheduler: a pass every second until stopped. */
  start(): { stop(): Promise<void> } {
    return every(nextSecond, "scheduler pass", this.log, () => this.tick());
  }
}
