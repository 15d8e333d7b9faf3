/**
 * Schedules as pure data: a cron expression in a time zone (parsed by croner), the ticks it gives,
 * and what a coordinator does at a given time: fire the latest due tick once, catch a missed one up
 * within a window (never a burst), skip a tick whose previous run still runs, or note it missed.
 * The record is changed by compare-and-set, so deciding is a function of the record and the clock.
 */
import { Cron } from "croner";
import { invalidArgument } from "./errors";
import type { DatasetShare } from "./backup";
import type { OnWriterError } from "./fsrvp/types";
import type { Retention } from "./retention";

export interface ScheduleSpec {
  /** Five fields (minute hour day month weekday), or six with seconds first. */
  cron: string;
  /** An IANA time zone; "UTC" by default. */
  timezone: string;
}

/** How one tick went. */
export interface TickRecord {
  tick: number;
  outcome: "fired" | "skipped" | "missed";
  backupId?: string;
  reason?: string;
  /** Earlier ticks that came while no coordinator ran, passed over for this one. */
  passedOver?: number;
}

export interface Schedule extends ScheduleSpec {
  name: string;
  dataset: DatasetShare[];
  description: string;
  retention: Retention;
  onWriterError: OnWriterError;
  paused: boolean;
  createdAt: number;
  updatedAt: number;
  /** The latest tick decided on (fired, skipped or missed); ticks up to it are done with. */
  lastTick: number;
  /** The backup of the latest run (a tick or run-now), to skip a tick while it runs. */
  lastBackupId?: string;
  /** The latest ticks, newest last. */
  history: TickRecord[];
}

const HISTORY = 20;
/** Names of schedules are short enough that `<name>-<yyyymmddhhmmss>-now` is a backup name (63). */
export const MAX_SCHEDULE_NAME = 44;
/** A tick computation never walks more ticks than this (a seconds-level cron over a long outage). */
const MAX_WALK = 10_000;

function cronOf(spec: ScheduleSpec): Cron {
  return new Cron(spec.cron, { timezone: spec.timezone, paused: true });
}

/** Checks the cron expression and the time zone, naming the field and the value. */
export function checkScheduleSpec(spec: ScheduleSpec): ScheduleSpec {
  const cron = spec.cron.trim();
  const timezone = spec.timezone.trim() || "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    throw invalidArgument(`timezone "${spec.timezone}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`, {
      field: "timezone",
      value: spec.timezone,
    });
  }
  if (cron === "") throw invalidArgument('cron is empty: give an expression such as "0 1 * * *"', { field: "cron" });
  try {
    if (cronOf({ cron, timezone }).nextRun() === null) throw new Error("it never fires");
  } catch (err) {
    throw invalidArgument(`cron "${spec.cron}" is not valid: ${err instanceof Error ? err.message : String(err)}`, {
      field: "cron",
      value: spec.cron,
    });
  }
  return { cron, timezone };
}

/** The first tick after `after`, or null when there is none. */
export function nextTick(spec: ScheduleSpec, after: number): number | null {
  return cronOf(spec).nextRun(new Date(after))?.getTime() ?? null;
}

/** The ticks in (from, to]: the latest, and how many there are (at most MAX_WALK are counted). */
export function ticksIn(spec: ScheduleSpec, from: number, to: number): { latest: number; count: number } | null {
  const c = cronOf(spec);
  const latest = c.previousRuns(1, new Date(to + 1))[0]?.getTime();
  if (latest === undefined || latest <= from) return null;
  let count = 0;
  for (let t = c.nextRun(new Date(from)); t && t.getTime() <= latest && count < MAX_WALK; t = c.nextRun(t)) count++;
  return { latest, count };
}

export type TickDecision =
  | { kind: "none" }
  /** Fire `tick` as backup `backupId` (derived from schedule and tick, so every replica derives the same). */
  | { kind: "fire"; schedule: Schedule; tick: TickRecord }
  | { kind: "skip"; schedule: Schedule; tick: TickRecord };

function withTick(s: Schedule, t: TickRecord, now: number): Schedule {
  return {
    ...s,
    lastTick: t.tick,
    updatedAt: now,
    ...(t.backupId ? { lastBackupId: t.backupId } : {}),
    history: [...s.history, t].slice(-HISTORY),
  };
}

/**
 * What a coordinator does with a schedule at `now`. Only the latest due tick is considered (older
 * ones are passed over, so an outage never causes a burst); it fires when it is at most
 * `catchUpMs` old and the previous run (`previousRunning`: its backup ID if it still runs) is done,
 * is skipped while that run goes on, and is missed when older than the window.
 */
export function decideTick(
  s: Schedule,
  now: number,
  catchUpMs: number,
  previousRunning: string | null,
  backupIdFor: (tick: number) => string,
): TickDecision {
  if (s.paused) return { kind: "none" };
  const due = ticksIn(s, s.lastTick, now);
  if (!due) return { kind: "none" };
  const passedOver = due.count - 1;
  const base = { tick: due.latest, ...(passedOver > 0 ? { passedOver } : {}) };
  if (now - due.latest > catchUpMs) {
    const reason = `no coordinator ran at the tick; it is ${Math.round((now - due.latest) / 1000)} s old, beyond the catch-up window of ${Math.round(catchUpMs / 1000)} s`;
    const t: TickRecord = { ...base, outcome: "missed", reason };
    return { kind: "skip", schedule: withTick(s, t, now), tick: t };
  }
  if (previousRunning) {
    const t: TickRecord = {
      ...base,
      outcome: "skipped",
      reason: `the previous run, backup ${previousRunning}, is still running`,
    };
    return { kind: "skip", schedule: withTick(s, t, now), tick: t };
  }
  const t: TickRecord = { ...base, outcome: "fired", backupId: backupIdFor(due.latest) };
  return { kind: "fire", schedule: withTick(s, t, now), tick: t };
}

/** Pausing stops ticks; unpausing starts from now, so ticks during the pause never fire. */
export function setPaused(s: Schedule, paused: boolean, now: number): Schedule {
  if (s.paused === paused) return s;
  return { ...s, paused, updatedAt: now, ...(paused ? {} : { lastTick: Math.max(s.lastTick, now) }) };
}

/** A run outside the ticks (run-now): recorded as the latest run, so the next tick waits for it. */
export function recordRunNow(s: Schedule, backupId: string, now: number): Schedule {
  return { ...s, lastBackupId: backupId, updatedAt: now };
}

/**
 * The name of the backup a schedule makes at `tick`: `<schedule>-<yyyymmddhhmmss>` (UTC), as Velero
 * names them; a run-now's ends in "-now" so it never takes a tick's name.
 */
export function scheduledBackupName(schedule: string, tick: number, runNow = false): string {
  return `${schedule}-${new Date(tick).toISOString().replace(/[-:T]/g, "").slice(0, 14)}${runNow ? "-now" : ""}`;
}
