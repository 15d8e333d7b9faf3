import { isGuid } from "./naming";
import { scheduledBackupId } from "./wire";
import {
  checkScheduleSpec,
  decideTick,
  nextTick,
  scheduledBackupName,
  setPaused,
  ticksIn,
  type Schedule,
} from "./schedule";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const S = 1000;

function schedule(over: Partial<Schedule> = {}): Schedule {
  return {
    name: "nightly",
    cron: "*/10 * * * * *",
    timezone: "UTC",
    dataset: [{ svm: "vs1", share: "share1", files: [] }],
    description: "",
    retention: {},
    onWriterError: "fail",
    paused: false,
    createdAt: T0,
    updatedAt: T0,
    lastTick: T0,
    history: [],
    ...over,
  };
}

describe("cron and time zone", () => {
  test.each([
    [{ cron: "0 1 * * *", timezone: "Europe/Berlin" }, "2026-01-01T00:00:00.000Z"],
    [{ cron: "0 1 * * *", timezone: "" }, "2026-01-01T01:00:00.000Z"],
    [{ cron: "0 1 * * *", timezone: "America/New_York" }, "2026-01-01T06:00:00.000Z"],
    [{ cron: "*/5 * * * * *", timezone: "UTC" }, "2025-12-31T23:59:35.000Z"],
  ])("%j: next tick after 23:59:30 UTC is %s", (spec, next) => {
    const ok = checkScheduleSpec(spec);
    expect(new Date(nextTick(ok, T0 - 30 * S)!).toISOString()).toBe(next);
  });

  test.each([
    [{ cron: "61 * * * *", timezone: "UTC" }, 'cron "61 * * * *" is not valid', "cron"],
    [{ cron: "every night", timezone: "UTC" }, 'cron "every night" is not valid', "cron"],
    [{ cron: "", timezone: "UTC" }, "cron is empty", "cron"],
    [{ cron: "0 1 * * *", timezone: "Mars/Base" }, 'timezone "Mars/Base" is not an IANA time zone', "timezone"],
  ])("%j is refused naming the field", (spec, message, field) => {
    expect(() => checkScheduleSpec(spec)).toThrow(message);
    try {
      checkScheduleSpec(spec);
    } catch (e) {
      expect((e as { details: { field: string } }).details.field).toBe(field);
    }
  });

  test("ticks in a window: the latest and how many", () => {
    const spec = { cron: "*/10 * * * * *", timezone: "UTC" };
    expect(ticksIn(spec, T0, T0 + 9 * S)).toBeNull();
    expect(ticksIn(spec, T0, T0 + 10 * S)).toEqual({ latest: T0 + 10 * S, count: 1 });
    expect(ticksIn(spec, T0, T0 + 65 * S)).toEqual({ latest: T0 + 60 * S, count: 6 });
  });
});

describe("what a coordinator does with a schedule at a given time", () => {
  const id = (t: number) => `b-${(t - T0) / S}`;
  const cases: [string, Partial<Schedule>, number, number, string | null, string, number | null, number | undefined][] =
    [
      // name, schedule, now (s after T0), catch-up window (s), previous run still running, decision, tick (s), passed over
      ["before the first tick: nothing", {}, 9, 60, null, "none", null, undefined],
      ["at the tick: it fires", {}, 10, 60, null, "fire", 10, undefined],
      ["a little after the tick: it fires", {}, 11.5, 60, null, "fire", 10, undefined],
      ["a tick already decided never fires again", { lastTick: T0 + 10 * S }, 15, 60, null, "none", null, undefined],
      ["down across three ticks: only the latest fires, once", {}, 35, 60, null, "fire", 30, 2],
      ["the latest tick is older than the catch-up window: missed", {}, 305, 2, null, "skip", 300, 29],
      ["the latest tick of a long outage within the window still fires", {}, 301, 5, null, "fire", 300, 29],
      ["previous run still running: skipped", {}, 10, 60, "prev", "skip", 10, undefined],
      ["paused: nothing", { paused: true }, 30, 60, null, "none", null, undefined],
    ];
  test.each(cases)("%s", (_n, over, nowS, windowS, running, kind, tickS, passedOver) => {
    const d = decideTick(schedule(over), T0 + nowS * S, windowS * S, running, id);
    expect(d.kind).toBe(kind);
    if (d.kind === "none") return;
    expect(d.tick.tick).toBe(T0 + tickS! * S);
    expect(d.tick.passedOver).toBe(passedOver);
    expect(d.schedule.lastTick).toBe(d.tick.tick);
    expect(d.schedule.history.at(-1)).toEqual(d.tick);
    // Deciding again on the new record at the same time does nothing: one decision per tick.
    expect(decideTick(d.schedule, T0 + nowS * S, windowS * S, null, id).kind).toBe("none");
  });

  test("a fired tick names its backup and is the run the next tick waits for", () => {
    const d = decideTick(schedule(), T0 + 10 * S, 60 * S, null, id);
    expect(d.kind === "fire" && d.tick).toEqual({ tick: T0 + 10 * S, outcome: "fired", backupId: "b-10" });
    expect(d.kind === "fire" && d.schedule.lastBackupId).toBe("b-10");
  });

  test("skipped and missed ticks say why", () => {
    const s = decideTick(schedule(), T0 + 10 * S, 60 * S, "prev", id);
    expect(s.kind === "skip" && s.tick.reason).toBe("the previous run, backup prev, is still running");
    const m = decideTick(schedule(), T0 + 305 * S, 2 * S, null, id);
    expect(m.kind === "skip" && m.tick).toMatchObject({ outcome: "missed" });
    expect(m.kind === "skip" && m.tick.reason).toMatch(/it is 5 s old, beyond the catch-up window of 2 s/);
  });

  test("unpausing starts from now: ticks during the pause never fire", () => {
    const paused = setPaused(schedule(), true, T0);
    const resumed = setPaused(paused, false, T0 + 100 * S);
    expect(decideTick(resumed, T0 + 105 * S, 60 * S, null, id).kind).toBe("none");
    expect(decideTick(resumed, T0 + 110 * S, 60 * S, null, id).kind).toBe("fire");
  });

  test("backups of a schedule are named after it and the tick", () => {
    expect(scheduledBackupName("nightly", T0 + 10 * S)).toBe("nightly-20260101000010");
    expect(scheduledBackupName("nightly", T0, true)).toBe("nightly-20260101000000-now");
  });
});

describe("the backup ID of a tick", () => {
  test("every replica derives the same GUID for a tick, another for the next tick or a new schedule", () => {
    const a = scheduledBackupId("nightly", T0, T0 + 10 * S);
    expect(a).toBe(scheduledBackupId("nightly", T0, T0 + 10 * S));
    expect(isGuid(a)).toBe(true);
    expect(scheduledBackupId("nightly", T0, T0 + 20 * S)).not.toBe(a);
    expect(scheduledBackupId("nightly", T0 + 1, T0 + 10 * S)).not.toBe(a);
  });
});
