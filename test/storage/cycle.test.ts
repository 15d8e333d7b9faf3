/**
 * A full FSRVP agent cycle and a managed backup through the four services (processes, a real
 * nats-server), with the local backend on ext4, XFS and btrfs loop images: the space one backup
 * adds, that no copy stays in the live volume, and a byte-identical restore.
 */
import { randomUUID } from "node:crypto";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { AgentClient, RvssClient } from "@rvss/client";
import { BackupState } from "@rvss/proto";
import {
  loopFsUnavailable,
  sampleBytes,
  usedBytes,
  copiesLeft,
  writableEntries,
  type LoopFs,
  type LoopFsKind,
  type RvssProcesses,
  testPki,
} from "@rvss/testkit";
import { startLoopSystem, type LoopSystem } from "./loop-system";

const why = loopFsUnavailable();
if (why) console.warn(`skipping the storage cycle tests: ${why}`);
const describeRoot = why ? describe.skip : describe;

const MiB = 1024 * 1024;
const DISK = "vm1/Virtual Hard Disks/vm1.vhdx";
const CONF = "vm1/Virtual Machines/vm1.vmcx";

describeRoot.each<[LoopFsKind, number]>([
  // What one backup may add: one copy of the files where nothing clones, metadata elsewhere.
  ["ext4", 24 * MiB],
  ["xfs", 1 * MiB],
  ["btrfs", 1 * MiB],
])("through the services on %s", (kind, mostAdded) => {
  let sys: LoopSystem;
  let lfs: LoopFs;
  let rvss: RvssProcesses;
  let client: RvssClient;
  let volDir: string;
  let shareDir: string;

  beforeAll(async () => {
    sys = await startLoopSystem(kind, { name: "cycle", diskBytes: 16 * MiB });
    ({ lfs, rvss, client } = sys);
    ({ volDir, shareDir } = sys.filer);
  });

  afterAll(() => sys?.stop());

  test("an agent cycle (create, expose, recovery complete, delete) leaves nothing behind", async () => {
    const agent = new AgentClient(rvss.grpcAddr, "vs1", testPki().clientAuth("backup-operator"));
    try {
      await agent.setContext(0x00400000);
      const { shadowCopySetId } = await agent.startShadowCopySet(randomUUID());
      const { shadowCopyId } = await agent.addToShadowCopySet(shadowCopySetId, "\\\\vs1\\share1");
      await agent.prepareShadowCopySet(shadowCopySetId);
      await agent.commitShadowCopySet(shadowCopySetId);
      await agent.exposeShadowCopySet(shadowCopySetId);
      const copy = path.join(volDir, ".shadowcopy", shadowCopyId);
      expect((await fsp.readFile(path.join(copy, DISK))).equals(sampleBytes(DISK, 16 * MiB))).toBe(true);
      await fsp.writeFile(path.join(copy, "vm1/recovered.log"), "auto-recovered");
      expect(await writableEntries(copy)).toContain("vm1/recovered.log");
      await agent.recoveryCompleteShadowCopySet(shadowCopySetId);
      // Read-only for every user but root; the snapshot, not the copy, is immutable (see ReadOnlyGuard).
      expect(await writableEntries(copy)).toEqual([]);
      await agent.deleteShareMapping(shadowCopySetId, shadowCopyId, "\\\\vs1\\share1");
      // Unreachable at once; its files are removed in the background, shortly after.
      const copies = path.join(volDir, ".shadowcopy");
      expect((await fsp.readdir(copies)).filter((e) => !e.startsWith(".deleted-"))).toEqual([]);
      expect(await copiesLeft(copies)).toEqual([]);
    } finally {
      agent.close();
    }
  });

  test(`a managed backup adds at most ${mostAdded / MiB} MiB, keeps no copy in the volume, and restores byte for byte`, async () => {
    const before = await usedBytes(lfs.mountPoint);
    const b = await client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: [DISK, CONF] }] });
    let done = await client.getBackup(b.id);
    for (const end = Date.now() + 60_000; done.state !== BackupState.BACKUP_STATE_COMPLETED && Date.now() < end;) {
      expect(done.state).not.toBe(BackupState.BACKUP_STATE_FAILED);
      await new Promise((r) => setTimeout(r, 100));
      done = await client.getBackup(b.id);
    }
    expect([done.state, done.reason]).toEqual([BackupState.BACKUP_STATE_COMPLETED, ""]);
    expect((await usedBytes(lfs.mountPoint)) - before).toBeLessThanOrEqual(mostAdded);
    expect(await fsp.readdir(path.join(volDir, ".shadowcopy"))).toEqual([]);

    await fsp.writeFile(path.join(shareDir, DISK), "changed after the backup");
    const target = path.join(lfs.mountPoint, "restored");
    const r = await client.restore({
      backupId: b.id,
      files: [DISK],
      target: { kind: { $case: "directory", value: target } },
    });
    expect(r.files.map((f) => f.path)).toEqual([DISK]);
    expect((await fsp.readFile(path.join(target, DISK))).equals(sampleBytes(DISK, 16 * MiB))).toBe(true);
  });
});
