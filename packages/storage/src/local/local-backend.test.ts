import * as fsp from "node:fs/promises";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { isRvssError, type LayoutEntry } from "@rvss/core";
import { parseFilerConfig } from "./filer-config";
import { ReadOnlyGuard, removeSealedTree } from "./fs-safe";
import { LocalBackend } from "./local-backend";
import { walkTree } from "./walk";

let dir: string;
let backend: LocalBackend;
let shareDir: string;
const SC = "aaaaaaaa-0000-4000-8000-000000000001";

async function write(rel: string, content: string): Promise<void> {
  await fsp.mkdir(path.dirname(path.join(shareDir, rel)), { recursive: true });
  await fsp.writeFile(path.join(shareDir, rel), content);
}

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isRvssError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected a failure");
}

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-local-"));
  const config = {
    root: "filer",
    svms: [
      {
        name: "vs1",
        volumes: [
          { name: "vm_vol1", junctionPath: "/hyperv/vm1" },
          { name: "nested", junctionPath: "/hyperv/vm1/dir1/vmdir/mnt" },
        ],
        shares: [
          { name: "share1", path: "/hyperv/vm1/dir1/vmdir" },
          { name: "root", path: "/hyperv/vm1" },
        ],
      },
    ],
  };
  await fsp.writeFile(path.join(dir, "filer.json"), JSON.stringify(config));
  backend = LocalBackend.fromFile(path.join(dir, "filer.json"));
  shareDir = path.join(dir, "filer", "vs1", "vm_vol1", "dir1", "vmdir");
  await write("vm1/disk.vhdx", "disk-one");
  await write("vm1/conf.vmcx", "conf-one");
  await write("vm2/disk.vhdx", "disk-two");
});

afterEach(async () => {
  await removeSealedTree(dir);
});

const share1 = { svm: "vs1", share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir" };
const ref = { svm: "vs1", volume: "vm_vol1", shadowCopyId: SC };

describe("filer description", () => {
  test.each([
    ["not json", /not valid JSON/],
    [JSON.stringify({ svms: [] }), /\$\.root: must be a non-empty string/],
    [
      JSON.stringify({ root: "f", svms: [{ name: "vs1", volumes: [], shares: [{ name: "s", path: "/x" }] }] }),
      /svms\[0\]\.shares\[0\]\.path: "\/x" lies under no volume junction/,
    ],
    [
      JSON.stringify({ root: "f", svms: [{ name: "vs1", volumes: [{ name: "v", junctionPath: "rel" }], shares: [] }] }),
      /junctionPath: "rel" must be an absolute path/,
    ],
    [
      JSON.stringify({
        root: "f",
        svms: [
          { name: "vs1", volumes: [], shares: [] },
          { name: "vs1", volumes: [], shares: [] },
        ],
      }),
      /SVM "vs1" is defined twice/,
    ],
    [
      JSON.stringify({ root: "f", svms: [{ name: "vs1", shadowCopyDirDepth: -1, volumes: [], shares: [] }] }),
      /shadowCopyDirDepth: must be an integer >= 0/,
    ],
  ])("refuses %s, naming the file and field", (text, message) => {
    expect(() => parseFilerConfig(text, "/etc/rvss/filer.json")).toThrow(/^\/etc\/rvss\/filer\.json: /);
    expect(() => parseFilerConfig(text, "/etc/rvss/filer.json")).toThrow(message);
  });
});

describe("share resolution", () => {
  test("a share resolves to its volume and the path inside it", async () => {
    const r = await backend.resolveShare("vs1", "SHARE1");
    expect(r).toEqual(
      expect.objectContaining({
        share: "share1",
        volume: "vm_vol1",
        sharePath: "dir1/vmdir",
        junctionPath: "/hyperv/vm1",
        junctionsBelow: ["/hyperv/vm1/dir1/vmdir/mnt"],
      }),
    );
  });

  test("a volume junction below the share root is reported", async () => {
    await fsp.mkdir(path.join(dir, "filer", "vs1", "vm_vol1"), { recursive: true });
    expect((await backend.resolveShare("vs1", "root")).junctionsBelow).toEqual(["/hyperv/vm1/dir1/vmdir/mnt"]);
  });

  test.each([
    ["vs9", "share1", "SVM_NOT_FOUND", /SVM "vs9" is not defined .* \(known: vs1\)/],
    ["vs1", "nope", "SHARE_NOT_FOUND", /share "nope" does not exist on SVM "vs1" \(known: share1, root\)/],
  ])("%s/%s is refused with %s", async (svm, share, code, message) => {
    const e = await errorOf(backend.resolveShare(svm, share));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });
});

describe("listed files", () => {
  test("every bad file is named with its rule", async () => {
    await fsp.symlink("/etc/passwd", path.join(shareDir, "vm1/link.vhdx"));
    await fsp.symlink("/etc", path.join(shareDir, "etcdir"));
    execFileSync("mkfifo", [path.join(shareDir, "vm1/pipe")]);
    const r = await backend.resolveShare("vs1", "share1");
    const problems = await backend.checkFiles(r, [
      "vm1/disk.vhdx",
      "vm1/missing.vhdx",
      "vm1",
      "vm1/link.vhdx",
      "etcdir/passwd",
      "vm1/pipe",
    ]);
    expect(problems.map((p) => [p.path, p.rule])).toEqual([
      ["vm1/missing.vhdx", "file-not-found"],
      ["vm1", "file-not-regular"],
      ["vm1/link.vhdx", "file-not-regular"],
      ["etcdir/passwd", "file-escapes-share"],
      ["vm1/pipe", "file-not-regular"],
    ]);
  });
});

async function walked(
  walk: AsyncIterable<LayoutEntry[]>,
): Promise<{ entries: [string, string, number][]; batches: number }> {
  const entries: [string, string, number][] = [];
  let batches = 0;
  for await (const batch of walk) {
    batches++;
    for (const e of batch) entries.push([e.path, e.kind, e.depth]);
  }
  return { entries: entries.sort((a, b) => a[0].localeCompare(b[0])), batches };
}

describe("walking a share", () => {
  test("every entry once, with its kind and depth; links are reported, not followed; a junction is not entered", async () => {
    await fsp.symlink("/etc/hostname", path.join(shareDir, "vm1/file-link"));
    await fsp.symlink("/etc", path.join(shareDir, "vm1/dir-link"));
    execFileSync("mkfifo", [path.join(shareDir, "vm2/pipe")]);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(shareDir, "vm2/sock"), resolve));
    await write("mnt/hidden-by-the-junction.vhdx", "x");
    try {
      const { entries, batches } = await walked(backend.walkShare(await backend.resolveShare("vs1", "share1")));
      expect(entries).toEqual([
        ["mnt", "junction", 0],
        ["vm1", "directory", 0],
        ["vm1/conf.vmcx", "file", 1],
        ["vm1/dir-link", "symlink", 1],
        ["vm1/disk.vhdx", "file", 1],
        ["vm1/file-link", "symlink", 1],
        ["vm2", "directory", 0],
        ["vm2/disk.vhdx", "file", 1],
        ["vm2/pipe", "fifo", 1],
        ["vm2/sock", "socket", 1],
      ]);
      expect(batches).toBe(4);
    } finally {
      server.close();
    }
  });

  test("a share at the volume root skips the volume's .snapshot and .shadowcopy", async () => {
    await backend.createShadowCopy({
      svm: "vs1",
      shadowCopyId: SC,
      share: share1,
      files: ["vm1/disk.vhdx"],
      writable: true,
    });
    await backend.createSnapshot({ svm: "vs1", volume: "vm_vol1", name: "s1" });
    const { entries } = await walked(backend.walkShare(await backend.resolveShare("vs1", "root")));
    expect(entries.map(([p]) => p).filter((p) => p.startsWith("."))).toEqual([]);
    expect(entries).toContainEqual(["dir1/vmdir/vm1/disk.vhdx", "file", 3]);
    expect(entries).toContainEqual(["dir1/vmdir/mnt", "junction", 2]);
  });

  test("a wide tree streams a batch per directory", async () => {
    const root = path.join(dir, "wide");
    for (let i = 0; i < 40; i++) {
      await fsp.mkdir(path.join(root, `d${i}`, "sub"), { recursive: true });
      await fsp.writeFile(path.join(root, `d${i}`, "sub", "f"), "");
    }
    const { entries, batches } = await walked(walkTree(root));
    expect([entries.length, batches]).toEqual([120, 81]);
  });

  test("a share directory that is gone stops the walk, naming it; one that vanishes mid-walk is skipped", async () => {
    await expect(walked(walkTree(path.join(dir, "gone")))).rejects.toThrow(
      /cannot read directory "\." below .*gone: ENOENT/,
    );
    // A directory is read when its batch is asked for: the root is listed before vm2 is read.
    const walk = walkTree(shareDir);
    expect((await walk.next()).value?.map((e: LayoutEntry) => e.path).sort()).toEqual(["vm1", "vm2"]);
    await fsp.rm(path.join(shareDir, "vm2"), { recursive: true });
    const rest: string[] = [];
    for (let r = await walk.next(); !r.done; r = await walk.next()) rest.push(...r.value.map((e) => e.path));
    expect(rest.sort()).toEqual(["vm1/conf.vmcx", "vm1/disk.vhdx"]);
  });
});

describe("shadow copies", () => {
  test("only the listed files are cloned, inside the volume", async () => {
    const info = await backend.createShadowCopy({
      svm: "vs1",
      shadowCopyId: SC,
      share: share1,
      files: ["vm1/disk.vhdx"],
      writable: true,
    });
    expect(info).toEqual({ clonePath: `.shadowcopy/${SC}`, bytes: 8, fileCount: 1 });
    const clone = path.join(dir, "filer", "vs1", "vm_vol1", ".shadowcopy", SC);
    expect(await fsp.readdir(clone, { recursive: true })).toEqual(expect.arrayContaining(["vm1", "vm1/disk.vhdx"]));
    expect(await fsp.readdir(path.join(clone, "vm1"))).toEqual(["disk.vhdx"]);
    expect(
      await backend.createShadowCopy({
        svm: "vs1",
        shadowCopyId: SC,
        share: share1,
        files: ["vm1/disk.vhdx"],
        writable: true,
      }),
    ).toEqual(info);
  });

  test("runs of one request at once make one copy, and each returns it", async () => {
    const req = { svm: "vs1", shadowCopyId: SC, share: share1, files: [], writable: true };
    const [a, ...others] = await Promise.all([1, 2, 3, 4].map(() => backend.createShadowCopy(req)));
    expect([a, ...others]).toEqual([{ clonePath: `.shadowcopy/${SC}`, bytes: a!.bytes, fileCount: 3 }, a, a, a]);
    expect(await fsp.readdir(path.join(dir, "filer", "vs1", "vm_vol1", ".shadowcopy"))).toEqual([SC, `${SC}.json`]);
  });

  test("with no list the whole share is cloned", async () => {
    const info = await backend.createShadowCopy({
      svm: "vs1",
      shadowCopyId: SC,
      share: share1,
      files: [],
      writable: true,
    });
    expect(info.fileCount).toBe(3);
  });

  test("a failed clone leaves nothing behind", async () => {
    const e = await errorOf(
      backend.createShadowCopy({
        svm: "vs1",
        shadowCopyId: SC,
        share: share1,
        files: ["vm1/disk.vhdx", "vm1/missing"],
        writable: true,
      }),
    );
    expect(e.code).toBe("FILE_NOT_FOUND");
    expect(await backend.listShadowCopies("vs1")).toEqual([]);
  });

  test.each([
    [
      "the listed file",
      ["vm1/disk.vhdx"],
      'file "vm1/disk.vhdx" in share "share1" is a symbolic link; only regular files can be copied',
    ],
    [
      "the whole share",
      [],
      '"vm1/disk.vhdx" in share "share1" is a symbolic link; a Remote VSS share may hold only directories and regular files',
    ],
  ])("a file swapped for a symlink after the check is refused when cloning %s", async (_what, files, message) => {
    const r = await backend.resolveShare("vs1", "share1");
    expect(await backend.checkFiles(r, ["vm1/disk.vhdx"])).toEqual([]);
    expect(
      (await walked(backend.walkShare(r))).entries.filter(
        ([, kind]) => kind !== "file" && kind !== "directory" && kind !== "junction",
      ),
    ).toEqual([]);
    await fsp.rm(path.join(shareDir, "vm1/disk.vhdx"));
    await fsp.symlink("/etc/shadow", path.join(shareDir, "vm1/disk.vhdx"));
    const e = await errorOf(
      backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share: share1, files, writable: true }),
    );
    expect(e).toEqual({ code: "FILE_NOT_REGULAR", message });
    expect(await backend.listShadowCopies("vs1")).toEqual([]);
  });

  test("a share root swapped for a symlink out of the volume is refused, and nothing is copied", async () => {
    const outside = path.join(dir, "outside");
    await fsp.mkdir(path.join(outside, "vm1"), { recursive: true });
    await fsp.writeFile(path.join(outside, "vm1/disk.vhdx"), "secret", { mode: 0o600 });
    await fsp.rename(shareDir, `${shareDir}.aside`);
    await fsp.symlink(outside, shareDir);
    const e = await errorOf(
      backend.createShadowCopy({
        svm: "vs1",
        shadowCopyId: SC,
        share: share1,
        files: ["vm1/disk.vhdx"],
        writable: true,
      }),
    );
    expect(e.code).toBe("PATH_ESCAPES_SHARE");
    expect(e.message).toBe(
      `share "share1" of SVM "vs1" resolves to ${outside}, not to its place in volume "vm_vol1" (a link on the way)`,
    );
    expect(await backend.listShadowCopies("vs1")).toEqual([]);
  });

  /**
   * Whether a user other than root (nobody, when the tests run as root) can append to `file`:
   * root writes whatever the modes say, and the seal is for everyone else.
   */
  function othersCanAppend(file: string): boolean {
    const asOther = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    try {
      execFileSync("sh", ["-c", 'printf x >> "$1"', "sh", file], { ...asOther, stdio: "pipe" });
      return true;
    } catch {
      return false;
    }
  }

  /** Files anyone may write, in a tree anyone may enter: the copy keeps the modes until sealed. */
  async function openToOthers(rel: string): Promise<void> {
    for (let d = shareDir; d.startsWith(dir); d = path.dirname(d)) await fsp.chmod(d, 0o755);
    await fsp.chmod(path.join(shareDir, rel), 0o666);
  }

  test("a writable copy takes writes until sealed, and refuses them after (all but root)", async () => {
    await openToOthers("vm1/disk.vhdx");
    await backend.createShadowCopy({
      svm: "vs1",
      shadowCopyId: SC,
      share: share1,
      files: ["vm1/disk.vhdx"],
      writable: true,
    });
    await backend.exposeShadowCopy({ ...ref, baseShare: "share1", exposedName: `share1@{${SC}}`, writable: true });
    const exposed = await backend.exposedSharePath("vs1", `share1@{${SC}}`);
    await fsp.appendFile(path.join(exposed, "vm1/disk.vhdx"), "+recovered");
    expect(othersCanAppend(path.join(exposed, "vm1/disk.vhdx"))).toBe(true);
    await backend.sealShadowCopy(ref);
    expect(othersCanAppend(path.join(exposed, "vm1/disk.vhdx"))).toBe(false);
    expect((await fsp.stat(path.join(exposed, "vm1"))).mode & 0o222).toBe(0);
    expect(await fsp.readFile(path.join(exposed, "vm1/disk.vhdx"), "utf8")).toBe("disk-one+recoveredx");
  });

  test("a read-only copy that a dead run made but did not seal is sealed by the next run", async () => {
    await openToOthers("vm1/disk.vhdx");
    const req = { svm: "vs1", shadowCopyId: SC, share: share1, files: ["vm1/disk.vhdx"], writable: false };
    await backend.createShadowCopy({ ...req, writable: true });
    const clone = path.join(dir, "filer", "vs1", "vm_vol1", ".shadowcopy", SC);
    expect(othersCanAppend(path.join(clone, "vm1/disk.vhdx"))).toBe(true);
    await backend.createShadowCopy(req);
    expect(othersCanAppend(path.join(clone, "vm1/disk.vhdx"))).toBe(false);
  });

  test("an exposed name SMB cannot carry is refused naming it, and nothing is recorded", async () => {
    await backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share: share1, files: [], writable: true });
    const e = await errorOf(
      backend.exposeShadowCopy({ ...ref, baseShare: "share1", exposedName: `../share1@{${SC}}`, writable: true }),
    );
    expect(e).toEqual({
      code: "INVALID_ARGUMENT",
      message: `share name "../share1@{${SC}}" contains "/", which SMB share names may not hold`,
    });
    expect(await backend.listExposedShares("vs1")).toEqual([]);
  });

  test("delete removes the exposed share and the copy (twice is fine)", async () => {
    await backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share: share1, files: [], writable: false });
    await backend.exposeShadowCopy({ ...ref, baseShare: "share1", exposedName: `share1@{${SC}}`, writable: false });
    expect((await backend.listExposedShares("vs1")).map((s) => s.name)).toEqual([`share1@{${SC}}`]);
    await backend.deleteShadowCopy(ref);
    await backend.deleteShadowCopy(ref);
    expect(await backend.listExposedShares("vs1")).toEqual([]);
    expect(await backend.listShadowCopies("vs1")).toEqual([]);
    // Gone from its name at once; its files are removed after the call, in the background.
    const copies = path.join(dir, "filer", "vs1", "vm_vol1", ".shadowcopy");
    expect((await fsp.readdir(copies)).filter((e) => !e.startsWith(".deleted-"))).toEqual([]);
    await backend.finishRemovals();
    expect(await fsp.readdir(copies)).toEqual([]);
  });

  test("a deleted copy a stopped process left aside is removed at the next start", async () => {
    const left = path.join(dir, "filer", "vs1", "vm_vol1", ".shadowcopy", `.deleted-${SC}.0badf00d`);
    await fsp.mkdir(path.join(left, "vm1"), { recursive: true });
    await fsp.writeFile(path.join(left, "vm1/disk.vhdx"), "x");
    await fsp.chmod(path.join(left, "vm1"), 0o555);
    expect(await backend.deletedCopies("vs1", "vm_vol1")).toBe(1);
    expect(await backend.listShadowCopies("vs1")).toEqual([]);
    await LocalBackend.fromFile(path.join(dir, "filer.json")).finishRemovals();
    expect(await backend.deletedCopies("vs1", "vm_vol1")).toBe(0);
  });
});

describe("snapshots and restore", () => {
  const snap = { svm: "vs1", volume: "vm_vol1", name: "rvss_test" };

  async function backup(): Promise<void> {
    await backend.createShadowCopy({
      svm: "vs1",
      shadowCopyId: SC,
      share: share1,
      files: ["vm1/disk.vhdx", "vm1/conf.vmcx"],
      writable: true,
    });
    await backend.sealShadowCopy(ref);
    await backend.createSnapshot(snap);
    await backend.deleteShadowCopy(ref);
  }

  test("a snapshot holds the sealed copy, read-only, and the live volume keeps no copy", async () => {
    await backup();
    expect((await backend.listSnapshots("vs1")).map((s) => s.name)).toEqual(["rvss_test"]);
    const image = path.join(dir, "filer", "vs1", "vm_vol1", ".snapshot", "rvss_test");
    const held = path.join(image, ".shadowcopy", SC, "vm1/disk.vhdx");
    expect(await fsp.readFile(held, "utf8")).toBe("disk-one");
    await expect(fsp.writeFile(held, "x")).rejects.toThrow(/EPERM|EACCES/);
    expect(await fsp.readdir(path.join(dir, "filer", "vs1", "vm_vol1", ".shadowcopy"))).toEqual([]);
    await backend.createSnapshot(snap);
  });

  test.each([
    ["a symlink", (f: string) => fsp.symlink("/etc/shadow", f), "a symbolic link"],
    ["a FIFO", (f: string) => void execFileSync("mkfifo", [f]), "a FIFO"],
  ])("a copy holding %s (put there through the exposed share) is refused by the snapshot", async (_n, make, kind) => {
    await backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share: share1, files: [], writable: true });
    const copy = path.join(dir, "filer", "vs1", "vm_vol1", ".shadowcopy", SC);
    await make(path.join(copy, "vm1/planted"));
    await backend.sealShadowCopy(ref);
    const e = await errorOf(backend.createSnapshot({ ...snap, shadowCopyIds: [SC] }));
    expect(e).toEqual({
      code: "FILE_NOT_REGULAR",
      message: `shadow copy ${SC} holds "vm1/planted", ${kind}; a snapshot takes only regular files and directories`,
    });
    expect(await backend.listSnapshots("vs1")).toEqual([]);
    await backend.deleteShadowCopy(ref);
  });

  test("a snapshot attempt cut short after moving a copy in is carried on, and the copy kept", async () => {
    await backend.createShadowCopy({ svm: "vs1", shadowCopyId: SC, share: share1, files: [], writable: true });
    await backend.sealShadowCopy(ref);
    const snapshots = path.join(dir, "filer", "vs1", "vm_vol1", ".snapshot");
    const copies = path.join(dir, "filer", "vs1", "vm_vol1", ".shadowcopy");
    // What a crash between the move and the rename leaves.
    await fsp.mkdir(path.join(snapshots, ".tmp-rvss_test", ".shadowcopy"), { recursive: true });
    await fsp.copyFile(
      path.join(copies, `${SC}.json`),
      path.join(snapshots, ".tmp-rvss_test", ".shadowcopy", `${SC}.json`),
    );
    await new ReadOnlyGuard(dir).unsealTop(path.join(copies, SC));
    await fsp.rename(path.join(copies, SC), path.join(snapshots, ".tmp-rvss_test", ".shadowcopy", SC));
    await backend.createSnapshot({ ...snap, shadowCopyIds: [SC] });
    expect(await fsp.readdir(snapshots)).toEqual(["rvss_test"]);
    expect(await fsp.readFile(path.join(snapshots, "rvss_test", ".shadowcopy", SC, "vm2/disk.vhdx"), "utf8")).toBe(
      "disk-two",
    );
  });

  test("runs of one snapshot request at once take one snapshot, and all succeed", async () => {
    await backend.createShadowCopy({
      svm: "vs1",
      shadowCopyId: SC,
      share: share1,
      files: ["vm1/disk.vhdx"],
      writable: true,
    });
    await backend.sealShadowCopy(ref);
    const [a, ...others] = await Promise.all([1, 2, 3, 4].map(() => backend.createSnapshot(snap)));
    expect(others).toEqual([a, a, a]);
    expect(await fsp.readdir(path.join(dir, "filer", "vs1", "vm_vol1", ".snapshot"))).toEqual(["rvss_test"]);
    await expect(
      fsp.writeFile(
        path.join(dir, "filer", "vs1", "vm_vol1", ".snapshot", "rvss_test", ".shadowcopy", SC, "vm1/disk.vhdx"),
        "x",
      ),
    ).rejects.toThrow(/EPERM|EACCES/);
  });

  test("restore copies the sealed files out and verifies them", async () => {
    await backup();
    await write("vm1/disk.vhdx", "changed since the backup");
    const target = path.join(dir, "restored");
    const files = await backend.restore({
      snapshot: snap,
      shadowCopyId: SC,
      files: [],
      target: { kind: "directory", path: target, root: dir },
      overwrite: false,
    });
    expect(files.map((f) => [f.path, f.bytes])).toEqual([
      ["vm1/conf.vmcx", 8],
      ["vm1/disk.vhdx", 8],
    ]);
    expect(await fsp.readFile(path.join(target, "vm1/disk.vhdx"), "utf8")).toBe("disk-one");
    const intoShare = {
      snapshot: snap,
      shadowCopyId: SC,
      files: ["vm1/disk.vhdx"],
      target: { kind: "share" as const, svm: "vs1", share: "share1" },
    };
    const refused = await errorOf(backend.restore({ ...intoShare, overwrite: false }));
    expect(refused).toEqual({ code: "FILE_EXISTS", message: expect.stringMatching(/"vm1\/disk\.vhdx"/) });
    expect(await fsp.readFile(path.join(shareDir, "vm1/disk.vhdx"), "utf8")).toBe("changed since the backup");
    await backend.restore({ ...intoShare, overwrite: true });
    expect(await fsp.readFile(path.join(shareDir, "vm1/disk.vhdx"), "utf8")).toBe("disk-one");
  });

  test("verification checksums the snapshot once; a backup damaged after it is refused with CHECKSUM_MISMATCH", async () => {
    await backup();
    expect(await backend.snapshotVerification(snap)).toBeNull();
    const verified = await backend.verifySnapshot(snap);
    expect(Object.keys(verified.shadowCopies[SC]!.files)).toEqual(["vm1/conf.vmcx", "vm1/disk.vhdx"]);
    expect(verified.shadowCopies[SC]!.share).toBe("share1");
    expect(await backend.verifySnapshot(snap)).toEqual(verified);
    const image = path.join(dir, "filer", "vs1", "vm_vol1", ".snapshot", "rvss_test");
    const damaged = path.join(image, ".shadowcopy", SC, "vm1/disk.vhdx");
    await new ReadOnlyGuard(dir).unseal(image);
    await fsp.writeFile(damaged, "bitrot!!");
    const e = await errorOf(
      backend.restore({
        snapshot: snap,
        shadowCopyId: SC,
        files: [],
        target: { kind: "directory", path: path.join(dir, "r"), root: dir },
        overwrite: false,
      }),
    );
    expect(e.code).toBe("CHECKSUM_MISMATCH");
    expect(e.message).toMatch(/vm1\/disk\.vhdx/);
  });

  test("restoring a file that is not in the backup names it", async () => {
    await backup();
    const e = await errorOf(
      backend.restore({
        snapshot: snap,
        shadowCopyId: SC,
        files: ["vm2/disk.vhdx"],
        target: { kind: "directory", path: path.join(dir, "r"), root: dir },
        overwrite: false,
      }),
    );
    expect(e).toEqual({
      code: "FILE_NOT_FOUND",
      message: expect.stringMatching(/"vm2\/disk\.vhdx" is not in the backup/),
    });
  });
});
