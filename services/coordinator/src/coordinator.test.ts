import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { isRvssError, managedSetEvents } from "@rvss/core";
import { RvssClient } from "@rvss/client";
import { startAutoRecoveryNotifier } from "@rvss/auto-recovery-notifier";
import { startShareDiscovery } from "@rvss/share-discovery";
import { startSnapshotExecutor } from "@rvss/snapshot-executor";
import { BackupState, type Backup } from "@rvss/proto";
import type { RunningService } from "@rvss/runtime";
import { LocalBackend } from "@rvss/storage";
import {
  EventRecorder,
  compareTrees,
  createSampleFiler,
  removeTree,
  startServicesNats,
  testPki,
  type NatsServer,
  type SampleFiler,
} from "@rvss/testkit";
import { startCoordinator } from "./index";

const log = pino({ level: "silent" });
let dir: string;
let nats: NatsServer;
let filer: SampleFiler;
let backend: LocalBackend;
let services: RunningService[] = [];
let client: RvssClient;
let events: EventRecorder;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-co-"));
  filer = await createSampleFiler(dir);
  const secure = await startServicesNats(filer.configPath, {}, dir);
  nats = secure.nats;
  const config = secure.config;
  backend = LocalBackend.fromFile(filer.configPath);
  const coordinator = await startCoordinator(config("coordinator"), log);
  services = [
    coordinator,
    await startShareDiscovery(config("share-discovery"), log),
    await startSnapshotExecutor(config("snapshot-executor"), log),
    await startAutoRecoveryNotifier(config("auto-recovery-notifier"), log),
  ];
  client = new RvssClient({ address: `127.0.0.1:${coordinator.grpcPort}`, auth: testPki().clientAuth() });
  events = await EventRecorder.start(nats.url, secure.users);
});

afterAll(async () => {
  client.close();
  await events.stop();
  for (const s of services) await s.stop();
  await nats.dispose();
  await removeTree(dir);
  nats.assertNoViolations();
});

async function finish(id: string): Promise<Backup> {
  await events.waitFor((e) => e.event.backupId === id && e.event.body?.$case === "backupFinished");
  return client.getBackup(id);
}

async function storageLeft(): Promise<number> {
  const [copies, exposed] = await Promise.all([backend.listShadowCopies("vs1"), backend.listExposedShares("vs1")]);
  return copies.length + exposed.length;
}

describe("coordinator", () => {
  test("a managed backup runs every phase in order and restores byte for byte", async () => {
    const created = await client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: filer.files }] });
    const b = await finish(created.id);
    expect(b.state).toBe(BackupState.BACKUP_STATE_COMPLETED);
    const setId = b.sets[0]!.setId;
    const types = events.of(setId).map((e) => e.event.body?.$case);
    expect(types).toEqual(managedSetEvents({ writers: false, volumes: 1 }));
    expect(b.sets[0]!.snapshots.map((s) => s.volume)).toEqual(["vm_vol1"]);
    expect(await storageLeft()).toBe(0);
    const target = path.join(dir, "restore-1");
    const r = await client.restore({ backupId: b.id, target: { kind: { $case: "directory", value: target } } });
    expect(r.files.map((f) => f.path).sort()).toEqual([...filer.files].sort());
    expect(await compareTrees(filer.shareDir, target, filer.files)).toEqual([]);
    expect((await client.listSnapshots({ backupId: b.id })).map((s) => s.name)).toEqual([
      b.sets[0]!.snapshots[0]!.name,
    ]);
  });

  test.each([
    [{ svm: "vs1", share: "nope", files: [] }, /share "nope" does not exist on SVM "vs1"/],
    [{ svm: "vs9", share: "share1", files: [] }, /SVM "vs9" is not defined/],
    [
      { svm: "vs1", share: "share1", files: ["vm1/missing.vhdx"] },
      /file "vm1\/missing\.vhdx" does not exist in share "share1"/,
    ],
  ])("bad input %j ends the backup Failed with a reason naming it, nothing on disk", async (item, reason) => {
    const created = await client.createBackup({ dataset: [item] });
    const b = await finish(created.id);
    expect(b.state).toBe(BackupState.BACKUP_STATE_FAILED);
    expect(b.reason).toMatch(reason);
    expect(b.sets[0]!.reason).toMatch(reason);
    expect(await storageLeft()).toBe(0);
  });

  test("a listed file that is a symlink out of the share fails the backup", async () => {
    await fsp.symlink("/etc/hostname", path.join(filer.shareDir, "vm1", "link.vhdx"));
    const b = await finish(
      (await client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: ["vm1/link.vhdx"] }] })).id,
    );
    expect(b.reason).toMatch(/"vm1\/link\.vhdx" .*symbolic link/);
    await fsp.rm(path.join(filer.shareDir, "vm1", "link.vhdx"));
  });

  test("a bad layout ends the backup Failed naming the violation, before anything is cloned", async () => {
    const pipe = path.join(filer.shareDir, "vm1", "pipe");
    execFileSync("mkfifo", [pipe]);
    try {
      const b = await finish(
        (await client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: [filer.files[3]!] }] })).id,
      );
      expect([b.state, b.reason]).toEqual([
        BackupState.BACKUP_STATE_FAILED,
        'SVM "vs1": "vm1/pipe" in share "share1" is a FIFO; a Remote VSS share may hold only directories and regular files',
      ]);
      expect(events.of(b.sets[0]!.setId).map((e) => e.event.body?.$case)).not.toContain("shadowCopiesCreated");
      expect(await storageLeft()).toBe(0);
      expect(await client.listSnapshots({ backupId: b.id })).toEqual([]);
    } finally {
      await fsp.rm(pipe);
    }
  });

  test("a path that escapes the share is refused before a backup exists", async () => {
    const before = (await client.listBackups()).length;
    let err: unknown;
    try {
      await client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: ["../../etc/passwd"] }] });
    } catch (e) {
      err = e;
    }
    expect(isRvssError(err, "INVALID_ARGUMENT")).toBe(true);
    expect((err as Error).message).toMatch(/"\.\.\/\.\.\/etc\/passwd" contains "\.\."/);
    expect((await client.listBackups()).length).toBe(before);
  });

  test("a retried request with the same request_id returns the same backup", async () => {
    const a = await client.createBackup({
      dataset: [{ svm: "vs1", share: "share1", files: [filer.files[1]!] }],
      requestId: "nightly-42",
    });
    const b = await client.createBackup({
      dataset: [{ svm: "vs1", share: "share1", files: [filer.files[1]!] }],
      requestId: "nightly-42",
    });
    expect(b.id).toBe(a.id);
    await finish(a.id);
  });

  test("backups of one SVM queue: never two sets in creation at once, all complete", async () => {
    const ids = await Promise.all(
      [0, 1, 2].map((i) =>
        client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: [filer.files[i]!] }] }).then((b) => b.id),
      ),
    );
    const finished = await Promise.all(ids.map(finish));
    expect(finished.map((b) => b.state)).toEqual([
      BackupState.BACKUP_STATE_COMPLETED,
      BackupState.BACKUP_STATE_COMPLETED,
      BackupState.BACKUP_STATE_COMPLETED,
    ]);
    // From the event stream: a set starts only after the previous one was sealed (Recovered).
    const setIds = new Set(finished.map((b) => b.sets[0]!.setId));
    const order = events.events.filter(
      (e) => setIds.has(e.event.setId) && ["setStarted", "shadowCopiesSealed"].includes(e.event.body?.$case ?? ""),
    );
    let inCreation = 0;
    for (const e of order) {
      inCreation += e.event.body?.$case === "setStarted" ? 1 : -1;
      expect(inCreation).toBeLessThanOrEqual(1);
    }
  });

  test("an unknown backup is NOT_FOUND, named", async () => {
    await expect(client.getBackup("no-such-backup")).rejects.toThrow(/backup "no-such-backup" does not exist/);
  });
});
