/**
 * Retention and schedules with the services as processes on a real nats-server and real files:
 * TTLs of seconds and keep-last delete exactly what they should; a schedule ticking every two
 * seconds with two coordinator replicas fires each tick once; coordinators down across ticks catch
 * up once; a tick whose previous run still runs is skipped.
 */
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { isRvssError, ticksIn } from "@rvss/core";
import { ScheduleClient } from "@rvss/client";
import { BackupState, TickOutcome, type Backup } from "@rvss/proto";
import {
  freePort,
  startSecureNats,
  startService,
  testPki,
  type NatsServer,
  type NatsUsers,
  type ServiceProcess,
} from "@rvss/testkit";
import { VOLUMES, datasetOf, sleep, startFaultSystem, until, type FaultSystem } from "../faults/system";

let nats: NatsServer;
let users: NatsUsers;
let sys: FaultSystem;
let schedules: ScheduleClient;
let second: ServiceProcess | undefined;

beforeAll(async () => {
  ({ nats, users } = await startSecureNats());
  sys = await startFaultSystem({
    natsUrl: nats.url,
    users,
    svms: ["t1", "k1", "s1", "c1"],
    env: { RVSS_COLLECTOR_INTERVAL_MS: "1000", RVSS_SCHEDULE_CATCH_UP_MS: "60000" },
  });
  schedules = new ScheduleClient({ address: sys.env.RVSS_GRPC_ADDR!, auth: testPki().clientAuth() });
}, 60_000);

afterAll(async () => {
  schedules?.close();
  await second?.stop();
  await sys?.stop();
  await nats?.dispose();
});

const onDisk = async (svm: string): Promise<string[]> =>
  (
    await Promise.all(
      VOLUMES.map((v) => fsp.readdir(path.join(sys.dir, "filer", svm, v, ".snapshot")).catch(() => [] as string[])),
    )
  )
    .flat()
    .filter((e) => !e.startsWith("."));

async function completed(req: Parameters<FaultSystem["client"]["createBackup"]>[0]): Promise<Backup> {
  const b = await sys.client.createBackup(req);
  return until(
    `backup ${b.id} to complete`,
    async () => {
      const cur = await sys.client.getBackup(b.id);
      return cur.state === BackupState.BACKUP_STATE_RUNNING ? undefined : cur;
    },
    60_000,
    100,
  );
}

const state = async (id: string) => (await sys.client.getBackup(id)).state;
const reasonOf = (id: string) =>
  sys.events.events.find((e) => e.event.backupId === id && e.event.body?.$case === "backupDeleted")?.event.body;

test("ttl of seconds: the collector deletes what expired, keeps the last completed backup of the SVM, says why", async () => {
  const bs: Backup[] = [];
  for (let i = 0; i < 3; i++) bs.push(await completed({ dataset: datasetOf("t1"), ttl: "3s" }));
  expect(bs.every((b) => b.state === BackupState.BACKUP_STATE_COMPLETED)).toBe(true);
  expect(bs[0]!.expiresAt!.getTime() - bs[0]!.createdAt!.getTime()).toBe(3000);
  await until("the two older backups to be deleted", async () =>
    (await state(bs[0]!.id)) === BackupState.BACKUP_STATE_DELETED &&
    (await state(bs[1]!.id)) === BackupState.BACKUP_STATE_DELETED
      ? true
      : undefined,
  );
  // Several collector runs later the newest is still there, though expired: it is t1's last completed backup.
  await sleep(Math.max(0, bs[2]!.expiresAt!.getTime() - Date.now()) + 3000);
  expect(await state(bs[2]!.id)).toBe(BackupState.BACKUP_STATE_COMPLETED);
  expect(await onDisk("t1")).toHaveLength(2);
  await sys.events.caughtUp();
  const why = reasonOf(bs[0]!.id);
  expect(why).toMatchObject({ $case: "backupDeleted", value: { byCollector: true, snapshotsDeleted: 2 } });
  expect(why?.$case === "backupDeleted" && why.value.reason).toMatch(/^expired: ttl 3s expired at \d{4}-/);
  expect(reasonOf(bs[2]!.id)).toBeUndefined();
}, 120_000);

test("keep-last 2 keeps exactly the two most recent completed backups of the SVM", async () => {
  const bs: Backup[] = [];
  for (let i = 0; i < 4; i++) bs.push(await completed({ dataset: datasetOf("k1"), keepLast: 2, name: `keep-${i}` }));
  await until("the two oldest to be deleted", async () =>
    (await state(bs[0]!.id)) === BackupState.BACKUP_STATE_DELETED &&
    (await state(bs[1]!.id)) === BackupState.BACKUP_STATE_DELETED
      ? true
      : undefined,
  );
  await sleep(2500);
  expect(await state(bs[2]!.id)).toBe(BackupState.BACKUP_STATE_COMPLETED);
  expect(await state(bs[3]!.id)).toBe(BackupState.BACKUP_STATE_COMPLETED);
  expect((await onDisk("k1")).sort()).toEqual(
    [bs[2]!, bs[3]!].flatMap((b) => b.sets.flatMap((s) => s.snapshots.map((x) => x.name))).sort(),
  );
  await sys.events.caughtUp();
  const why = reasonOf(bs[0]!.id);
  // The collector runs between the backups, so the oldest goes as soon as two newer ones completed.
  expect(why?.$case === "backupDeleted" && why.value.reason).toMatch(
    /^expired: keep-last 2: [23] newer completed backups on k1$/,
  );
}, 120_000);

/** Ticks of a schedule as decided (one event each), and which replica fired each, from their logs. */
function ticksOf(name: string) {
  return sys.events.events
    .filter((e) => e.event.body?.$case === "scheduleTicked" && e.event.body.value.schedule === name)
    .map((e) => (e.event.body?.$case === "scheduleTicked" ? e.event.body.value : undefined)!);
}

function firedLogLines(proc: ServiceProcess, name: string): string[] {
  return proc
    .output()
    .split("\n")
    .filter((l) => l.includes('"schedule tick fired"') && l.includes(`"schedule":"${name}"`))
    .map((l) => (JSON.parse(l) as { tick: string }).tick);
}

test("every 2 s with two coordinator replicas: each tick is decided once, fired by one replica, no tick missing", async () => {
  const env = { ...sys.env, ...sys.users.env("coordinator"), RVSS_GRPC_ADDR: `127.0.0.1:${await freePort()}` };
  second = await startService("coordinator", env);
  const created = await schedules.create({
    name: "every-2s",
    cron: "*/2 * * * * *",
    dataset: datasetOf("s1"),
    ttl: "720h",
    keepLast: 50,
  });
  expect(created.nextTick).toBeDefined();
  await sleep(11_000);
  const paused = await schedules.pause("every-2s");
  await sleep(1500);
  await sys.events.caughtUp();

  // Exactly the ticks the cron gives between creation and pause (one fewer if the pause came in
  // the milliseconds between a tick and its decision).
  const expected = ticksIn(
    { cron: created.cron, timezone: created.timezone },
    created.createdAt!.getTime(),
    paused.updatedAt!.getTime(),
  )!.count;
  const ticks = ticksOf("every-2s").map((t) => t.tick!.getTime());
  expect(expected).toBeGreaterThanOrEqual(5);
  expect([expected, expected - 1]).toContain(ticks.length);
  expect(new Set(ticks).size).toBe(ticks.length);
  const sorted = [...ticks].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBe(2000);

  const fired = ticksOf("every-2s").filter((t) => t.outcome === TickOutcome.TICK_OUTCOME_FIRED);
  const a = firedLogLines(sys.services.coordinator, "every-2s");
  const b = firedLogLines(second, "every-2s");
  // Every fired tick was fired by exactly one replica.
  expect([...a, ...b].sort()).toEqual(fired.map((t) => t.tick!.toISOString()).sort());
  const made = await sys.client.listBackups({ schedule: "every-2s" });
  expect(made.map((x) => x.id).sort()).toEqual(fired.map((t) => t.backupId).sort());
  for (const m of made) {
    expect(m.name).toMatch(/^every-2s-\d{14}$/);
    expect(m.ttl).toBe("720h");
  }
  // How late each tick was decided: the event's time against the tick's.
  const late = sys.events.events
    .filter((e) => e.event.body?.$case === "scheduleTicked" && e.event.body.value.schedule === "every-2s")
    .map(
      (e) =>
        e.event.time!.getTime() - (e.event.body?.$case === "scheduleTicked" ? e.event.body.value.tick!.getTime() : 0),
    )
    .sort((x, y) => x - y);
  console.log(
    `two replicas, every 2 s for 11 s: ${ticks.length} ticks decided once each (the cron gave ${expected}), ${fired.length} fired ` +
      `(replica A ${a.length}, replica B ${b.length}), ${ticks.length - fired.length} skipped; ` +
      `decided ${late[Math.floor((late.length - 1) / 2)]} ms after the tick in the median, ${late.at(-1)} ms at most`,
  );
  const s = await schedules.get("every-2s");
  expect(s.paused).toBe(true);
  expect(s.history.length).toBe(ticks.length);
}, 120_000);

test("a tick whose previous run still runs is skipped and recorded as skipped", async () => {
  // Share-discovery frozen: the first run cannot get past resolving, so it runs through the next ticks.
  sys.services["share-discovery"].pause();
  try {
    await schedules.create({ name: "busy", cron: "*/2 * * * * *", dataset: datasetOf("s1") });
    const first = await until("the first tick to fire", async () =>
      ticksOf("busy").find((t) => t.outcome === TickOutcome.TICK_OUTCOME_FIRED),
    );
    const skipped = await until(
      "a tick to be skipped",
      async () => ticksOf("busy").find((t) => t.outcome === TickOutcome.TICK_OUTCOME_SKIPPED),
      15_000,
    );
    expect(skipped.reason).toBe(`the previous run, backup ${first.backupId}, is still running`);
    expect(skipped.tick!.getTime() - first.tick!.getTime()).toBe(2000);
    expect(await state(first.backupId)).toBe(BackupState.BACKUP_STATE_RUNNING);
    expect(ticksOf("busy").filter((t) => t.outcome === TickOutcome.TICK_OUTCOME_FIRED)).toHaveLength(1);
    await schedules.pause("busy");
    const rec = await schedules.get("busy");
    expect(rec.history.some((t) => t.outcome === TickOutcome.TICK_OUTCOME_SKIPPED)).toBe(true);
    sys.services["share-discovery"].resume();
    await until(
      "the busy run to end",
      async () => ((await state(first.backupId)) === BackupState.BACKUP_STATE_RUNNING ? undefined : true),
      60_000,
    );
  } finally {
    sys.services["share-discovery"].resume();
  }
}, 120_000);

test("every coordinator down across ticks: the latest missed tick fires once at start, never a burst", async () => {
  // Created just after a tick and the coordinators killed at once: no tick was decided and no run
  // is in flight, so the catch-up tick has nothing to wait for.
  while (Date.now() % 5000 < 300 || Date.now() % 5000 > 1500) await sleep(50);
  await schedules.create({ name: "catch-up", cron: "*/5 * * * * *", dataset: datasetOf("c1") });
  const before = ticksOf("catch-up").length;
  await second?.kill();
  second = undefined;
  await sys.services.coordinator.kill();
  const downAt = Date.now();
  expect(before).toBe(0);
  await sleep(12_000);
  await sys.restart("coordinator");
  const upAt = Date.now();
  await until("the catch-up tick", async () => (ticksOf("catch-up").length > before ? true : undefined), 10_000);
  await sleep(500);
  await sys.events.caughtUp();
  // The first tick decided after the outage is the latest missed one, fired once with the others
  // passed over; every later tick is the next one on the cron (no burst of the missed ticks).
  const after = ticksOf("catch-up").slice(before);
  const caught = after[0]!;
  expect(caught.outcome).toBe(TickOutcome.TICK_OUTCOME_FIRED);
  expect(caught.tick!.getTime()).toBeGreaterThan(downAt);
  expect(caught.tick!.getTime()).toBeLessThan(upAt);
  expect(caught.passedOver).toBeGreaterThanOrEqual(1);
  for (let i = 1; i < after.length; i++) expect(after[i]!.tick!.getTime() - after[i - 1]!.tick!.getTime()).toBe(5000);
  console.log(
    `coordinators down ${Math.round((upAt - downAt) / 1000)} s across a 5 s schedule: the latest missed tick ` +
      `fired once at start, ${caught.passedOver} passed over; ${after.length - 1} later ticks on time`,
  );
  await schedules.pause("catch-up");
}, 120_000);

test("bad schedules are refused naming the field and the value, and change nothing", async () => {
  const base = { name: "bad", cron: "0 1 * * *", dataset: datasetOf("c1") };
  const cases: [Partial<typeof base> & Record<string, unknown>, string][] = [
    [{ cron: "0 25 * * *" }, 'cron "0 25 * * *" is not valid'],
    [{ timezone: "Europe/Atlantis" }, 'timezone "Europe/Atlantis" is not an IANA time zone'],
    [{ ttl: "30 days" }, 'ttl "30 days" is not a duration'],
    [{ name: "Nightly!" }, 'schedule name "Nightly!" is not valid'],
    [{ name: "every-2s" }, 'schedule "every-2s" exists already'],
  ];
  const names = (await schedules.list()).map((s) => s.name);
  for (const [over, message] of cases) {
    const err = await schedules.create({ ...base, ...over }).catch((e: unknown) => e);
    expect(isRvssError(err)).toBe(true);
    expect((err as Error).message).toContain(message);
  }
  expect((await schedules.list()).map((s) => s.name)).toEqual(names);
  await expect(schedules.get("nope")).rejects.toThrow('schedule "nope" does not exist');
  const id = await schedules.runNow("every-2s");
  expect((await sys.client.getBackup(id)).name).toMatch(/^every-2s-\d{14}-now$/);
  await schedules.delete("every-2s");
  expect((await schedules.list()).map((s) => s.name)).not.toContain("every-2s");
  expect((await sys.client.listBackups({ schedule: "every-2s" })).length).toBeGreaterThan(0);
}, 60_000);
