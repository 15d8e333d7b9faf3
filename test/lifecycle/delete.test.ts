/**
 * Deleting backups, with the services as processes on a real nats-server and real files: the
 * snapshots leave the disk, the backup stays as a Deleted record, a kill -9 of the executor or of
 * the coordinator mid-delete still ends Deleted, and names, labels, prefixes, the snapshot limit
 * and restores as records behave as the CLI shows them.
 */
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { STATE_BUCKET, backupStatusKey, isRvssError, startDeletion, type BackupStatus } from "@rvss/core";
import { Kvm } from "@nats-io/kv";
import { BackupState, RestoreState } from "@rvss/proto";
import { startSecureNats, type NatsServer, type NatsUsers } from "@rvss/testkit";
import { SHARES, VOLUMES, datasetOf, sleep, startFaultSystem, until, type FaultSystem } from "../faults/system";

let nats: NatsServer;
let users: NatsUsers;
let sys: FaultSystem;

beforeAll(async () => {
  ({ nats, users } = await startSecureNats());
  sys = await startFaultSystem({
    natsUrl: nats.url,
    users,
    svms: ["d1", "d2", "d3", "d4"],
    // A snapshot takes 1.5 s to delete (and a copy to remove), so a kill lands mid-delete.
    env: { RVSS_STORAGE_LATENCY: "cleanup=1500", RVSS_MAX_SNAPSHOTS_PER_VOLUME: "4" },
  });
}, 60_000);

afterAll(async () => {
  await sys?.stop();
  await nats?.dispose();
});

const snapshotDir = (svm: string, volume: string) => path.join(sys.dir, "filer", svm, volume, ".snapshot");
/** The snapshots on disk (not the backend's own entries there, such as .verified). */
const onDisk = async (svm: string): Promise<string[]> =>
  (await Promise.all(VOLUMES.map((v) => fsp.readdir(snapshotDir(svm, v)).catch(() => [] as string[]))))
    .flat()
    .filter((e) => !e.startsWith("."))
    .sort();

async function completedBackup(svm: string, extra: { name?: string; labels?: Record<string, string> } = {}) {
  const b = await sys.client.createBackup({ dataset: datasetOf(svm), ...extra });
  return until(
    `backup ${b.id} to complete`,
    async () => {
      const cur = await sys.client.getBackup(b.id);
      if (cur.state === BackupState.BACKUP_STATE_COMPLETED) return cur;
      if (cur.state !== BackupState.BACKUP_STATE_RUNNING) throw new Error(`backup ended ${cur.state}: ${cur.reason}`);
      return undefined;
    },
    60_000,
    100,
  );
}

const deletedEvents = (backupId: string) =>
  sys.events.events.filter((e) => e.event.backupId === backupId && e.event.body?.$case === "backupDeleted");

async function untilDeleted(backupId: string, timeoutMs = 60_000) {
  return until(
    `backup ${backupId} to be Deleted`,
    async () => {
      const b = await sys.client.getBackup(backupId);
      return b.state === BackupState.BACKUP_STATE_DELETED ? b : undefined;
    },
    timeoutMs,
    100,
  );
}

test("delete by name: the snapshots leave the disk, the backup stays as a Deleted record listed only with all", async () => {
  const b = await completedBackup("d1", { name: "db-nightly-1", labels: { app: "sql" } });
  const names = b.sets.flatMap((s) => s.snapshots.map((x) => x.name)).sort();
  expect(names).toHaveLength(2);
  expect(await onDisk("d1")).toEqual(names);

  const deleting = await sys.client.deleteBackup("db-nightly-1");
  expect(deleting.id).toBe(b.id);
  expect(deleting.state).toBe(BackupState.BACKUP_STATE_DELETING);
  const done = await untilDeleted(b.id);
  expect(await onDisk("d1")).toEqual([]);
  expect(done.deletionReason).toBe("deleted on request");
  expect(done.deletedAt).toBeDefined();
  expect(done.sets.flatMap((s) => s.snapshots)).toEqual([]);

  await sys.events.caughtUp();
  const ev = deletedEvents(b.id);
  expect(ev).toHaveLength(1);
  expect(ev[0]!.subject).toBe(`rvss.v1.bkp.${b.id}.backup_deleted`);
  expect(ev[0]!.event.body).toMatchObject({
    value: { reason: "deleted on request", snapshotsDeleted: 2, byCollector: false },
  });

  expect((await sys.client.listBackups()).map((x) => x.id)).not.toContain(b.id);
  expect((await sys.client.listBackups({ all: true })).map((x) => x.id)).toContain(b.id);
  expect((await sys.client.listSnapshots({ backupId: b.id })).length).toBe(0);
  // Deleting again changes nothing; restoring is refused, naming the state.
  expect((await sys.client.deleteBackup(b.id)).state).toBe(BackupState.BACKUP_STATE_DELETED);
  await expect(
    sys.client.restore({ backupId: b.id, target: { kind: { $case: "directory", value: "/tmp/x" } } }),
  ).rejects.toThrow(`backup ${b.id} is deleted: nothing to restore`);
  // A snapshot of a deleted backup is gone: the admin delete says so instead of failing.
  expect(await sys.client.deleteSnapshot({ svm: "d1", volume: VOLUMES[0], name: names[0]! })).toBe(false);
}, 120_000);

test("kill -9 of the snapshot-executor mid-delete: the command comes back and the deletion ends", async () => {
  const b = await completedBackup("d2");
  const before = await onDisk("d2");
  expect(before).toHaveLength(2);
  await sys.client.deleteBackup(b.id);
  // The executor has the command and sits in the 1.5 s delete when it dies.
  await sleep(700);
  await sys.services["snapshot-executor"].kill();
  const mid = await sys.client.getBackup(b.id);
  expect(mid.state).toBe(BackupState.BACKUP_STATE_DELETING);
  expect(await onDisk("d2")).toEqual(before);
  await sys.restart("snapshot-executor");
  await untilDeleted(b.id);
  expect(await onDisk("d2")).toEqual([]);
  await sys.events.caughtUp();
  expect(deletedEvents(b.id)).toHaveLength(1);
}, 120_000);

test("kill -9 of the coordinator mid-delete, before and after it sent the commands: the deletion ends", async () => {
  // After: the commands are out, the coordinator dies; the executor's report waits in the stream.
  const b1 = await completedBackup("d3");
  await sys.client.deleteBackup(b1.id);
  await sys.services.coordinator.kill();
  await sleep(2500);
  await sys.restart("coordinator");
  await untilDeleted(b1.id);

  // Before: the status says Deleting but no command went out (the coordinator died between the
  // write and the publish). Written here behind a stopped coordinator, as such a crash leaves it.
  const b2 = await completedBackup("d3");
  expect(await onDisk("d3")).toHaveLength(2);
  await sys.services.coordinator.kill();
  const kv = await new Kvm(sys.nc).open(STATE_BUCKET);
  const key = backupStatusKey(b2.id);
  const e = (await kv.get(key))!;
  const next = startDeletion(
    e.json<BackupStatus>(),
    { backupId: b2.id, svms: ["d3"] },
    { reason: "deleted on request" },
    Date.now(),
  );
  await kv.update(key, JSON.stringify(next), e.revision);
  await sys.restart("coordinator");
  await untilDeleted(b2.id);
  expect(await onDisk("d3")).toEqual([]);
  await sys.events.caughtUp();
  expect(deletedEvents(b1.id)).toHaveLength(1);
  expect(deletedEvents(b2.id)).toHaveLength(1);
}, 180_000);

test("bad input changes nothing: unknown, running, duplicate name, bad selector, ambiguous prefix", async () => {
  await expect(sys.client.deleteBackup("no-such-backup")).rejects.toThrow('backup "no-such-backup" does not exist');
  const named = await completedBackup("d1", { name: "dup-name", labels: { app: "web", tier: "gold" } });
  const err = await sys.client.createBackup({ dataset: datasetOf("d1"), name: "dup-name" }).catch((x: unknown) => x);
  expect(isRvssError(err, "ALREADY_EXISTS")).toBe(true);
  expect((err as Error).message).toBe(`backup name "dup-name" is taken by backup ${named.id}`);
  await expect(sys.client.createBackup({ dataset: datasetOf("d1"), name: "Bad_Name" })).rejects.toThrow(
    'backup name "Bad_Name" is not valid',
  );
  await expect(sys.client.createBackup({ dataset: datasetOf("d1"), ttl: "30d" })).rejects.toThrow(
    'ttl "30d" is not a duration',
  );
  await expect(sys.client.listBackups({ labelSelector: "app=web=x" })).rejects.toThrow(
    'label selector "app=web=x" does not parse',
  );

  const picked = await sys.client.listBackups({ labelSelector: "app=web,tier!=bronze" });
  expect(picked.map((b) => b.id)).toEqual([named.id]);
  expect((await sys.client.getBackup(named.id.slice(0, 8))).id).toBe(named.id);
  expect((await sys.client.getBackup("dup-name")).labels).toEqual({ app: "web", tier: "gold" });

  // A running backup: refused, and it runs on to completion untouched.
  const running = await sys.client.createBackup({ dataset: datasetOf("d4") });
  const refusal = await sys.client.deleteBackup(running.id).catch((x: unknown) => x);
  expect(isRvssError(refusal, "FAILED_PRECONDITION")).toBe(true);
  expect((refusal as Error).message).toBe(
    `backup ${running.id} is running; cancel it first (rvss backup cancel ${running.id}), then delete it`,
  );
  await until(
    "the running backup to complete",
    async () =>
      (await sys.client.getBackup(running.id)).state === BackupState.BACKUP_STATE_COMPLETED ? true : undefined,
    60_000,
    100,
  );
  const snaps = await sys.client.listSnapshots({ backupId: running.id });
  expect(snaps).toHaveLength(2);
  // The admin delete refuses a snapshot a live backup owns, and names that are not rvss's.
  await expect(
    sys.client.deleteSnapshot({ svm: "d4", volume: snaps[0]!.volume, name: snaps[0]!.name }),
  ).rejects.toThrow(`belongs to backup ${running.id} (Completed); delete the backup instead`);
  await expect(sys.client.deleteSnapshot({ svm: "d4", volume: "vol_a", name: "hourly.0" })).rejects.toThrow(
    '"hourly.0" is not a snapshot rvss made',
  );
}, 120_000);

test("a restore is a record: who, when, which backup, files, target, outcome", async () => {
  const b = await completedBackup("d4", { name: "to-restore" });
  const target = path.join(sys.dir, "restored");
  await fsp.mkdir(target, { recursive: true });
  const res = await sys.client.restore({
    backupId: "to-restore",
    svm: "d4",
    share: SHARES[0].share,
    files: [SHARES[0].file],
    target: { kind: { $case: "directory", value: target } },
  });
  const listed = await sys.client.listRestores("to-restore");
  expect(listed).toHaveLength(1);
  const r = listed[0]!;
  expect(r).toMatchObject({
    id: res.restoreId,
    backupId: b.id,
    svm: "d4",
    share: SHARES[0].share,
    files: [SHARES[0].file],
    target: { kind: { $case: "directory", value: target } },
    state: RestoreState.RESTORE_STATE_COMPLETED,
  });
  // Who asked: the caller's authenticated identity, not its address.
  expect(r.requestedBy).toBe("spiffe://rvss.local/admin");
  expect(r.restoredFiles.map((f) => f.path)).toEqual([SHARES[0].file]);
  expect((await sys.client.getRestore(res.restoreId.slice(0, 8))).id).toBe(res.restoreId);
  await expect(sys.client.getRestore("ffffffff")).rejects.toThrow('no restore has the ID or ID prefix "ffffffff"');
}, 120_000);

test("a volume at RVSS_MAX_SNAPSHOTS_PER_VOLUME fails the set before anything is cloned, naming volume and count", async () => {
  // Four snapshots rvss did not make (they count on ONTAP too) fill vol_b of d2 at the limit of 4.
  for (let i = 0; i < 4; i++)
    await fsp.mkdir(path.join(snapshotDir("d2", "vol_b"), `hourly.${i}`), { recursive: true });
  const b = await sys.client.createBackup({ dataset: datasetOf("d2") });
  const failed = await until(
    "the backup to fail",
    async () => {
      const cur = await sys.client.getBackup(b.id);
      return cur.state === BackupState.BACKUP_STATE_RUNNING ? undefined : cur;
    },
    60_000,
    100,
  );
  expect(failed.state).toBe(BackupState.BACKUP_STATE_FAILED);
  expect(failed.reason).toContain(
    'volume "vol_b" of SVM "d2" holds 4 snapshots; one more would exceed RVSS_MAX_SNAPSHOTS_PER_VOLUME=4',
  );
  await sys.events.caughtUp();
  const setId = failed.sets[0]!.setId;
  const types = sys.events.events.filter((e) => e.event.setId === setId).map((e) => e.event.body?.$case);
  expect(types).toContain("stepFailed");
  expect(types).not.toContain("shadowCopiesCreated");
  for (const v of VOLUMES) expect(await fsp.readdir(path.join(sys.dir, "filer", "d2", v, ".shadowcopy"))).toEqual([]);
}, 120_000);
