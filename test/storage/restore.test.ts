/**
 * Restores of the local backend on real files: modes, owners and times as in the share when it was
 * backed up (on this machine's disk, XFS and btrfs), no link followed into or out of a share or a
 * restore directory, no file replaced without overwrite, and a directory swapped for a link over and
 * over while restores run never lets a byte out.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { isRvssError } from "@rvss/core";
import { LocalBackend, parseFilerConfig, type RestoreJob } from "@rvss/storage";
import { btrfsSubvolume, loopFsUnavailable, mountLoopFs, removeTree, rvssFailure, type LoopFs } from "@rvss/testkit";

const SC = "6a1d0c2e-0000-4000-8000-000000000001";
const snap = { svm: "vs1", volume: "vm_vol1", name: "rvss_restore" };
const share = { svm: "vs1", share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir" };
const ref = { svm: "vs1", volume: "vm_vol1", shadowCopyId: SC };
const THEN = new Date("2024-03-01T12:34:56.789Z");

/** The share's entries: path, mode, owner; files have contents. */
const TREE: { path: string; mode: number; uid: number; gid: number; content?: string }[] = [
  { path: "vm1", mode: 0o755, uid: 0, gid: 0 },
  { path: "vm1/disk.vhdx", mode: 0o600, uid: 1234, gid: 1234, content: "disk image" },
  { path: "vm1/tools", mode: 0o755, uid: 0, gid: 0 },
  { path: "vm1/tools/recover.sh", mode: 0o755, uid: 0, gid: 0, content: "#!/bin/sh\necho recovered\n" },
  { path: "vm1/private", mode: 0o700, uid: 1234, gid: 5678 },
  { path: "vm1/private/key.bin", mode: 0o640, uid: 1234, gid: 5678, content: "secret" },
];
const FILES = TREE.filter((e) => e.content !== undefined).map((e) => e.path);
const root = process.getuid?.() === 0;

let dir: string;
let backend: LocalBackend;
let shareDir: string;
let outside: string;

/**
 * A filer on `base`, with the tree above in its share, each entry given its mode, owner and time;
 * the volume is a btrfs subvolume when asked.
 */
async function makeFiler(base: string, subvolume = false): Promise<void> {
  const text = JSON.stringify({
    root: "filer",
    svms: [
      {
        name: "vs1",
        volumes: [{ name: "vm_vol1", junctionPath: "/hyperv/vm1" }],
        shares: [{ name: "share1", path: "/hyperv/vm1/dir1/vmdir" }],
      },
    ],
  });
  backend = new LocalBackend(parseFilerConfig(text, path.join(base, "filer.json")), "the test filer");
  const volume = path.join(base, "filer", "vs1", "vm_vol1");
  await fsp.mkdir(path.dirname(volume), { recursive: true });
  if (subvolume) await btrfsSubvolume(volume);
  shareDir = path.join(volume, "dir1", "vmdir");
  await fsp.mkdir(shareDir, { recursive: true });
  for (const e of TREE) {
    const p = path.join(shareDir, e.path);
    if (e.content === undefined) await fsp.mkdir(p);
    else await fsp.writeFile(p, e.content);
  }
  // Deepest first, so writing an entry does not change its directory's time afterwards.
  for (const e of [...TREE].reverse()) {
    const p = path.join(shareDir, e.path);
    if (root) await fsp.chown(p, e.uid, e.gid);
    await fsp.chmod(p, e.mode);
    await fsp.utimes(p, THEN, THEN);
  }
  outside = path.join(base, "outside");
  await fsp.mkdir(outside);
}

/** One managed backup's storage steps; the live share is left as it was. */
async function backup(): Promise<void> {
  await backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share, files: [], writable: true });
  await backend.sealShadowCopy(ref);
  await backend.createSnapshot({ ...snap, shadowCopyIds: [SC] });
  await backend.deleteShadowCopy(ref);
}

function job(target: RestoreJob["target"], more: Partial<RestoreJob> = {}): RestoreJob {
  return { snapshot: snap, shadowCopyId: SC, files: [], target, overwrite: false, ...more };
}
const intoShare = { kind: "share", svm: "vs1", share: "share1" } as const;

/** Mode, owner (as root) and time of every entry below `top`, as the tree above says them. */
async function attributes(top: string): Promise<unknown[]> {
  return Promise.all(
    TREE.map(async (e) => {
      const st = await fsp.lstat(path.join(top, e.path));
      return {
        path: e.path,
        mode: (st.mode & 0o7777).toString(8),
        ...(root ? { uid: st.uid, gid: st.gid } : {}),
        mtime: Math.floor(st.mtimeMs),
        ...(e.content !== undefined ? { content: await fsp.readFile(path.join(top, e.path), "utf8") } : {}),
      };
    }),
  );
}

const expected = TREE.map((e) => ({
  path: e.path,
  mode: e.mode.toString(8),
  ...(root ? { uid: e.uid, gid: e.gid } : {}),
  mtime: THEN.getTime(),
  ...(e.content !== undefined ? { content: e.content } : {}),
}));

/** Every entry below `top`, relative (links reported, not followed). */
async function entries(top: string): Promise<string[]> {
  return (await fsp.readdir(top, { recursive: true })).map(String).sort();
}

describe("on this machine's disk", () => {
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-restore-"));
    await makeFiler(dir);
    await backup();
  });

  afterEach(async () => {
    await removeTree(dir);
  });

  test("files and the directories a restore makes get the mode, owner and time they had in the share", async () => {
    const target = path.join(dir, "restores", "r1");
    const files = await backend.restore(job({ kind: "directory", path: target, root: path.join(dir, "restores") }));
    expect(files.map((f) => f.path)).toEqual([...FILES].sort());
    expect(await attributes(target)).toEqual(expected);

    // Into the share, the files and directories gone from it since the backup.
    await fsp.rm(path.join(shareDir, "vm1"), { recursive: true });
    await backend.restore(job(intoShare));
    expect(await attributes(shareDir)).toEqual(expected);
  });

  test("a restore into the share does not go through a directory swapped for a link out of it", async () => {
    await fsp.rename(path.join(shareDir, "vm1"), path.join(dir, "vm1.moved"));
    await fsp.symlink(outside, path.join(shareDir, "vm1"));
    for (const overwrite of [false, true]) {
      const e = await rvssFailure(backend.restore(job(intoShare, { overwrite })));
      expect(e).toEqual({
        code: "PATH_ESCAPES_SHARE",
        message: expect.stringMatching(
          /^restore into share "share1" of SVM "vs1": "vm1" is a symbolic link; a restore/,
        ),
      });
    }
    expect(await entries(outside)).toEqual([]);
  });

  test("nor through a link on the way from the volume to the share", async () => {
    const volume = path.join(dir, "filer", "vs1", "vm_vol1");
    await fsp.rename(path.join(volume, "dir1"), path.join(dir, "dir1.moved"));
    await fsp.mkdir(path.join(outside, "vmdir"));
    await fsp.symlink(outside, path.join(volume, "dir1"));
    const e = await rvssFailure(backend.restore(job(intoShare, { overwrite: true })));
    expect(e.code).toBe("PATH_ESCAPES_SHARE");
    expect(e.message).toContain(`"${path.join(volume, "dir1")}" is a symbolic link`);
    expect(await entries(outside)).toEqual(["vmdir"]);
  });

  test("a link where a file goes is not followed: refused without overwrite, replaced (not written through) with it", async () => {
    const victim = path.join(outside, "victim");
    await fsp.writeFile(victim, "not rvss's");
    await fsp.rm(path.join(shareDir, "vm1/disk.vhdx"));
    await fsp.symlink(victim, path.join(shareDir, "vm1/disk.vhdx"));
    const e = await rvssFailure(backend.restore(job(intoShare)));
    expect(e).toEqual({
      code: "FILE_EXISTS",
      message: expect.stringMatching(/a file exists in share "share1" .*"vm1\/disk\.vhdx"/),
    });
    await backend.restore(job(intoShare, { overwrite: true }));
    expect(await fsp.readFile(victim, "utf8")).toBe("not rvss's");
    expect((await fsp.lstat(path.join(shareDir, "vm1/disk.vhdx"))).isFile()).toBe(true);
    expect((await attributes(shareDir))[1]).toEqual(expected[1]);
  });

  test("a restore directory is entered below its root without following a link, neither to it nor in it", async () => {
    const restores = path.join(dir, "restores");
    await fsp.mkdir(path.join(restores, "r1"), { recursive: true });
    await fsp.symlink(outside, path.join(restores, "r1", "vm1"));
    await fsp.symlink(outside, path.join(restores, "r2"));
    const planted = await rvssFailure(
      backend.restore(job({ kind: "directory", path: path.join(restores, "r1"), root: restores })),
    );
    expect(planted).toEqual({
      code: "PERMISSION_DENIED",
      message: expect.stringContaining(`restore into ${restores}/r1: "${restores}/r1/vm1" is a symbolic link`),
    });
    const swapped = await rvssFailure(
      backend.restore(
        job({ kind: "directory", path: path.join(restores, "r2", "x"), root: restores }, { overwrite: true }),
      ),
    );
    expect(swapped).toEqual({
      code: "PERMISSION_DENIED",
      message: expect.stringContaining(`"${restores}/r2" is a symbolic link`),
    });
    const beside = await rvssFailure(backend.restore(job({ kind: "directory", path: "/etc/x", root: restores })));
    expect(beside.code).toBe("PERMISSION_DENIED");
    expect(await entries(outside)).toEqual([]);
  });

  test("a changed live file is not replaced without overwrite, and neither is one that appears during the restore", async () => {
    await fsp.writeFile(path.join(shareDir, "vm1/disk.vhdx"), "changed since the backup");
    const changed = await rvssFailure(backend.restore(job(intoShare)));
    expect(changed).toEqual({ code: "FILE_EXISTS", message: expect.stringMatching(/"vm1\/disk\.vhdx"/) });
    expect(await fsp.readFile(path.join(shareDir, "vm1/disk.vhdx"), "utf8")).toBe("changed since the backup");

    // Gone at the check; a user puts a new one there while the first file is restored.
    await fsp.rm(path.join(shareDir, "vm1/disk.vhdx"));
    await fsp.rm(path.join(shareDir, "vm1/private/key.bin"));
    const late = await rvssFailure(
      backend.restore(
        job(intoShare, {
          files: ["vm1/private/key.bin", "vm1/disk.vhdx"],
          onProgress: () => fs.writeFileSync(path.join(shareDir, "vm1/disk.vhdx"), "the user's new file"),
        }),
      ),
    );
    expect(late).toEqual({ code: "FILE_EXISTS", message: expect.stringMatching(/"vm1\/disk\.vhdx"/) });
    expect(await fsp.readFile(path.join(shareDir, "vm1/disk.vhdx"), "utf8")).toBe("the user's new file");
    expect(await fsp.readFile(path.join(shareDir, "vm1/private/key.bin"), "utf8")).toBe("secret");
    expect((await entries(shareDir)).filter((e) => e.includes("rvss-restore"))).toEqual([]);
  });

  test("a file already as in the backup is left as it is without overwrite", async () => {
    const before = await fsp.stat(path.join(shareDir, "vm1/disk.vhdx"));
    const files = await backend.restore(job(intoShare, { files: ["vm1/disk.vhdx"] }));
    expect(files).toEqual([{ path: "vm1/disk.vhdx", bytes: 10, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect((await fsp.stat(path.join(shareDir, "vm1/disk.vhdx"))).ino).toBe(before.ino);
  });

  test.each(["share", "directory"] as const)(
    "a directory swapped for a link out and back, over and over, while restores into a %s run: nothing lands outside",
    async (kind) => {
      const restores = path.join(dir, "restores");
      const top = kind === "share" ? shareDir : path.join(restores, "r");
      const target = kind === "share" ? intoShare : ({ kind: "directory", path: top, root: restores } as const);
      if (kind === "directory") await backend.restore(job(target));
      const swapper = swapForLink(path.join(top, "vm1"), outside, 3000);
      // A restore ends in one of three ways: done, refused at a link, or failed (to be retried)
      // because a directory it made was taken away under it.
      const seen = { done: 0, refused: 0, gone: 0, other: [] as string[] };
      for (const end = Date.now() + 3000; Date.now() < end;) {
        try {
          await backend.restore(job(target, { overwrite: true }));
          seen.done++;
        } catch (err) {
          const code = isRvssError(err) ? err.code : String(err);
          if (code === (kind === "share" ? "PATH_ESCAPES_SHARE" : "PERMISSION_DENIED")) seen.refused++;
          else if (code === "STORAGE_FAILED" && /: ENOENT$/.test((err as Error).message)) seen.gone++;
          else seen.other.push(`${code}: ${(err as Error).message}`);
        }
      }
      const swaps = await swapper;
      expect(await entries(outside)).toEqual([]);
      expect(swaps).toBeGreaterThan(100);
      expect(seen.other).toEqual([]);
      expect(seen.refused).toBeGreaterThan(0);
    },
  );
});

/**
 * In a thread of its own (so it runs between the restore's system calls, not between its awaits):
 * renames `dir` away, puts a link to `to` in its place, then takes the link away and renames the
 * directory back, until `ms` have passed. Everything it moves stays beside `dir`. Resolves to the number of links it put in place.
 */
function swapForLink(dir: string, to: string, ms: number): Promise<number> {
  const worker = new Worker(
    `
    const fs = require("node:fs");
    const { workerData: { dir, to, ms } } = require("node:worker_threads");
    const aside = dir + ".aside";
    let swaps = 0;
    for (const end = Date.now() + ms; Date.now() < end; ) {
      try {
        fs.renameSync(dir, aside);
        fs.symlinkSync(to, dir);
        swaps++;
        fs.unlinkSync(dir);
      } catch {}
      try {
        fs.renameSync(aside, dir);
      } catch {
        // A restore made the directory anew while it was away: that one is put aside for good.
        try {
          fs.renameSync(dir, dir + ".made-" + swaps);
        } catch {}
      }
    }
    require("node:worker_threads").parentPort.postMessage(swaps);
    `,
    { eval: true, workerData: { dir, to, ms } },
  );
  return new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

const why = loopFsUnavailable();
(why ? describe.skip : describe).each(["xfs", "btrfs"] as const)("on %s", (kind) => {
  let lfs: LoopFs;

  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), `rvss-restore-${kind}-`));
    lfs = await mountLoopFs(kind, dir, kind === "xfs" ? 512 : 1024);
  });

  afterAll(async () => {
    await removeTree(path.join(lfs.mountPoint, "filer")).catch(() => undefined);
    await lfs?.dispose();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test("files and directories come back with their mode, owner and time", async () => {
    await makeFiler(lfs.mountPoint, kind === "btrfs");
    expect((await backend.capabilities())[0]!.cow).toBe(kind === "btrfs" ? "btrfs" : "reflink");
    await backup();
    const restores = path.join(lfs.mountPoint, "restores");
    await backend.restore(job({ kind: "directory", path: path.join(restores, "r"), root: restores }));
    expect(await attributes(path.join(restores, "r"))).toEqual(expected);
    await backend.deleteSnapshot(snap);
  });
});
