/**
 * The local backend on real filesystems: XFS (reflink=1) and btrfs loop images, and ext4 (this
 * machine's disk). Space is measured with statfs deltas, reflinks with shared extents (filefrag).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { LocalBackend, parseFilerConfig } from "@rvss/storage";
import {
  btrfsReadOnly,
  createVmFiler,
  loopFsUnavailable,
  mountLoopFs,
  removeTree,
  rvssFailure,
  sampleBytes,
  sharedBytes,
  usedBytes,
  type LoopFs,
  type LoopFsKind,
} from "@rvss/testkit";

const why = loopFsUnavailable();
if (why) console.warn(`skipping the loop-mount storage tests: ${why}`);
const describeRoot = why ? describe.skip : describe;

const MiB = 1024 * 1024;
const DISK = "vm1/Virtual Hard Disks/vm1.vhdx";
const CONF = "vm1/Virtual Machines/vm1.vmcx";
const SC = "5f0c2b1e-0000-4000-8000-000000000001";

/** A one-VM filer on `root` and its backend; the volume is a subvolume when asked. */
async function makeFiler(root: string, volume: { subvolume?: boolean; cow?: string } = {}) {
  const f = await createVmFiler(root, { diskBytes: 16 * MiB, ...volume });
  return { backend: new LocalBackend(parseFilerConfig(f.text, f.configPath), f.configPath), ...f };
}

const share = { svm: "vs1", share: "share1", volume: "vm_vol1", sharePath: "vms" };
const ref = { svm: "vs1", volume: "vm_vol1", shadowCopyId: SC };
const snap = { svm: "vs1", volume: "vm_vol1", name: "rvss_cow" };

/** One managed backup's storage steps, as the executor runs them. */
async function backup(backend: LocalBackend, exposedDir?: (dir: string) => Promise<void>): Promise<void> {
  await backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share, files: [DISK, CONF], writable: true });
  const { accessPath } = await backend.exposeShadowCopy({
    ...ref,
    baseShare: "share1",
    exposedName: `share1@{${SC}}`,
    writable: true,
  });
  if (exposedDir) await exposedDir(accessPath);
  await backend.sealShadowCopy(ref);
  await backend.createSnapshot({ ...snap, shadowCopyIds: [SC] });
  await backend.deleteShadowCopy(ref);
  // As the executor's finalize does: the backup completes once the live volume holds no copy.
  await backend.finishRemovals();
}

describeRoot.each<[LoopFsKind, string]>([
  ["xfs", "reflink"],
  ["btrfs", "btrfs"],
])("on %s", (kind, cow) => {
  let dir: string;
  let lfs: LoopFs;
  let filer: Awaited<ReturnType<typeof makeFiler>>;

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), `rvss-cow-${kind}-`));
    lfs = await mountLoopFs(kind, dir, kind === "xfs" ? 512 : 1024);
  });

  afterAll(async () => {
    await removeTree(path.join(lfs.mountPoint, "filer")).catch(() => undefined);
    await lfs?.dispose();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await fsp.rm(path.join(lfs.mountPoint, "filer"), { recursive: true, force: true }).catch(() => undefined);
    filer = await makeFiler(lfs.mountPoint, { subvolume: kind === "btrfs" });
  });

  afterEach(async () => {
    await filer.backend.deleteSnapshot(snap);
    await removeTree(path.join(lfs.mountPoint, "filer"));
  });

  test(`the volume is detected as cow "${cow}"`, async () => {
    expect(await filer.backend.capabilities()).toEqual([
      { svm: "vs1", volume: "vm_vol1", filesystem: kind, cow, reflink: true, subvolume: kind === "btrfs" },
    ]);
  });

  test("a copy is a reflink: its extents are shared and it adds no data", async () => {
    const before = await usedBytes(lfs.mountPoint);
    await filer.backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share, files: [DISK], writable: true });
    const clone = path.join(filer.volDir, ".shadowcopy", SC, DISK);
    expect(await sharedBytes(clone)).toBe(16 * MiB);
    expect((await usedBytes(lfs.mountPoint)) - before).toBeLessThan(1 * MiB);
    await filer.backend.deleteShadowCopy(ref);
  });

  test("a backup adds under 1 MiB, leaves no copy in the live volume, and its snapshot is read-only for root", async () => {
    const before = await usedBytes(lfs.mountPoint);
    await backup(filer.backend, (d) => fsp.writeFile(path.join(d, "vm1/recovery.log"), "recovered"));
    expect((await usedBytes(lfs.mountPoint)) - before).toBeLessThan(1 * MiB);
    expect(await fsp.readdir(path.join(filer.volDir, ".shadowcopy"))).toEqual([]);
    const held = path.join(filer.volDir, ".snapshot", snap.name, ".shadowcopy", SC);
    expect(await fsp.readFile(path.join(held, "vm1/recovery.log"), "utf8")).toBe("recovered");
    expect(await sharedBytes(path.join(held, DISK))).toBe(16 * MiB);
    // Refused for root: on btrfs the snapshot is a read-only subvolume, elsewhere its files are immutable.
    await expect(fsp.writeFile(path.join(held, DISK), "x")).rejects.toThrow(kind === "btrfs" ? /EROFS/ : /EPERM/);
    if (kind === "btrfs") expect(await btrfsReadOnly(path.join(filer.volDir, ".snapshot", snap.name))).toBe("true");
    await expect(fsp.writeFile(path.join(held, "vm1/new"), "x")).rejects.toThrow(/EROFS|EPERM/);
  });

  test("a restore is byte-identical, a reflink, before and after verification", async () => {
    await backup(filer.backend);
    await fsp.writeFile(path.join(filer.shareDir, DISK), "overwritten after the backup");
    const target = path.join(lfs.mountPoint, "restored");
    for (const verify of [false, true]) {
      if (verify) expect(Object.keys((await filer.backend.verifySnapshot(snap)).shadowCopies)).toEqual([SC]);
      await fsp.rm(target, { recursive: true, force: true });
      const files = await filer.backend.restore({
        snapshot: snap,
        shadowCopyId: SC,
        files: [],
        target: { kind: "directory", path: target, root: lfs.mountPoint },
        overwrite: false,
      });
      expect(files.map((f) => [f.path, f.bytes])).toEqual([
        [DISK, 16 * MiB],
        [CONF, 64 * 1024],
      ]);
      expect((await fsp.readFile(path.join(target, DISK))).equals(sampleBytes(DISK, 16 * MiB))).toBe(true);
      expect(await sharedBytes(path.join(target, DISK))).toBe(16 * MiB);
    }
    await fsp.rm(target, { recursive: true, force: true });
  });

  test("deleting the snapshot gives its space back", async () => {
    const before = await usedBytes(lfs.mountPoint);
    await backup(filer.backend);
    await fsp.rm(path.join(filer.shareDir, DISK));
    await filer.backend.deleteSnapshot(snap);
    expect(await filer.backend.listSnapshots("vs1")).toEqual([]);
    // XFS frees an unlinked file's extents in the background: flush and read again for a while.
    let freed = 0;
    for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
      execFileSync("sync", ["-f", lfs.mountPoint]);
      freed = before - (await usedBytes(lfs.mountPoint));
      if (freed > 15 * MiB) break;
    }
    expect(freed).toBeGreaterThan(15 * MiB);
  });

  test("the clean-up a user runs (rvss clean) removes a filer holding sealed snapshots", async () => {
    await backup(filer.backend);
    expect(() => execFileSync("rm", ["-rf", path.join(lfs.mountPoint, "filer")], { stdio: "pipe" })).toThrow(
      /Operation not permitted|Read-only file system/,
    );
    await removeTree(path.join(lfs.mountPoint, "filer"));
    expect(fs.existsSync(path.join(lfs.mountPoint, "filer"))).toBe(false);
    filer = await makeFiler(lfs.mountPoint, { subvolume: kind === "btrfs" });
  });

  test("a volume asking for what the filesystem cannot do fails at start, naming the volume and filesystem", async () => {
    const other = await makeFiler(path.join(lfs.mountPoint, "other"), { cow: kind === "xfs" ? "btrfs" : "btrfs" });
    const e = await rvssFailure(other.backend.capabilities());
    expect(e.code).toBe("CONFIG_INVALID");
    expect(e.message).toMatch(
      kind === "xfs"
        ? /volume "vm_vol1" of SVM "vs1" asks for cow "btrfs", but .* is on xfs, which has no subvolume snapshots/
        : /volume "vm_vol1" of SVM "vs1" asks for cow "btrfs", but .* is on btrfs, and is not a btrfs subvolume/,
    );
    await removeTree(path.join(lfs.mountPoint, "other"));
  });
});

describeRoot("on ext4 (no reflink)", () => {
  let dir: string;
  let lfs: LoopFs;
  let filer: Awaited<ReturnType<typeof makeFiler>>;

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-cow-ext4-"));
    lfs = await mountLoopFs("ext4", dir, 256);
  });

  afterAll(async () => {
    await lfs?.dispose();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    filer = await makeFiler(path.join(lfs.mountPoint, "f"));
  });

  afterEach(async () => {
    await removeTree(path.join(lfs.mountPoint, "f"));
  });

  test("the copy is made once and moved into the snapshot: one backup adds one copy of the files", async () => {
    expect((await filer.backend.capabilities())[0]).toEqual(
      expect.objectContaining({ filesystem: "ext4", cow: "none" }),
    );
    const before = await usedBytes(lfs.mountPoint);
    await backup(filer.backend);
    const added = (await usedBytes(lfs.mountPoint)) - before;
    expect(added).toBeGreaterThan(16 * MiB);
    expect(added).toBeLessThan(18 * MiB);
    expect(await fsp.readdir(path.join(filer.volDir, ".shadowcopy"))).toEqual([]);
    const restored = path.join(lfs.mountPoint, "f", "restored");
    await filer.backend.restore({
      snapshot: snap,
      shadowCopyId: SC,
      files: [DISK],
      target: { kind: "directory", path: restored, root: lfs.mountPoint },
      overwrite: false,
    });
    expect((await fsp.readFile(path.join(restored, DISK))).equals(sampleBytes(DISK, 16 * MiB))).toBe(true);
  });

  test("asking for reflink on ext4 or tmpfs fails at start, naming the volume and filesystem", async () => {
    const bad = await makeFiler(path.join(lfs.mountPoint, "f", "bad"), { cow: "reflink" });
    expect((await rvssFailure(bad.backend.capabilities())).message).toMatch(
      /volume "vm_vol1" of SVM "vs1" asks for cow "reflink", but .* is on ext4, which cannot reflink/,
    );
    if (fs.existsSync("/dev/shm") && fs.statfsSync("/dev/shm").type === 0x01021994) {
      const shm = await fsp.mkdtemp("/dev/shm/rvss-tmpfs-");
      try {
        const onTmpfs = await makeFiler(shm, { cow: "reflink" });
        expect((await rvssFailure(onTmpfs.backend.capabilities())).message).toMatch(
          /is on tmpfs, which cannot reflink/,
        );
      } finally {
        await removeTree(shm);
      }
    }
  });
});
