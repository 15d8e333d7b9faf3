/**
 * A sample filer for the local backend, laid out as in the ONTAP Remote VSS documentation:
 * SVM vs1, volume vm_vol1 at junction /hyperv/vm1, share share1 at /hyperv/vm1/dir1/vmdir holding
 * two Hyper-V VMs. File contents are deterministic, so restores can be compared byte for byte.
 */
import { createHash } from "node:crypto";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { removeSealedTree } from "@rvss/storage";
import { btrfsSubvolume } from "./loop-fs";

export interface SampleFiler {
  /** The filer description (RVSS_FILER_CONFIG). */
  configPath: string;
  root: string;
  svm: string;
  volume: string;
  share: string;
  /** The share root on disk. */
  shareDir: string;
  /** The VM files, relative to the share root. */
  files: string[];
}

/** Bytes that look like a disk image and are the same on every run. */
export function sampleBytes(name: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash("sha256").update(name).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

const VM_FILES: [string, number][] = [
  ["vm1/Virtual Hard Disks/vm1.vhdx", 4 * 1024 * 1024],
  ["vm1/Virtual Machines/vm1.vmcx", 64 * 1024],
  ["vm1/Virtual Machines/vm1.vmrs", 32 * 1024],
  ["vm2/Virtual Hard Disks/vm2.vhdx", 2 * 1024 * 1024],
  ["vm2/Virtual Machines/vm2.vmcx", 48 * 1024],
];

export async function createSampleFiler(dir: string): Promise<SampleFiler> {
  const root = path.join(dir, "filer");
  const svm = "vs1";
  const volume = "vm_vol1";
  const share = "share1";
  const shareDir = path.join(root, svm, volume, "dir1", "vmdir");
  for (const [rel, size] of VM_FILES) {
    await fsp.mkdir(path.dirname(path.join(shareDir, rel)), { recursive: true });
    await fsp.writeFile(path.join(shareDir, rel), sampleBytes(rel, size));
  }
  const configPath = path.join(dir, "filer.json");
  const config = {
    root: "filer",
    svms: [
      {
        name: svm,
        shadowCopyDirDepth: 5,
        volumes: [{ name: volume, junctionPath: "/hyperv/vm1" }],
        shares: [{ name: share, path: "/hyperv/vm1/dir1/vmdir" }],
      },
    ],
  };
  await fsp.writeFile(configPath, JSON.stringify(config, null, 2) + "\n");
  return { configPath, root, svm, volume, share, shareDir, files: VM_FILES.map(([f]) => f) };
}

export interface VmFiler {
  /** The filer description (RVSS_FILER_CONFIG) and its text. */
  configPath: string;
  text: string;
  /** Volume vm_vol1 of SVM vs1, and its share share1 (the directory vms), on disk. */
  volDir: string;
  shareDir: string;
}

/**
 * A filer below `root` (a loop image's mount point, typically): SVM vs1 with volume vm_vol1 at
 * /vol1 and share share1 at /vol1/vms holding one VM, its disk `diskBytes` long. The volume is a
 * btrfs subvolume when asked, and says its copy-on-write mode when given.
 */
export async function createVmFiler(
  root: string,
  opts: { diskBytes: number; subvolume?: boolean; cow?: string },
): Promise<VmFiler> {
  const disk = "vm1/Virtual Hard Disks/vm1.vhdx";
  const config = "vm1/Virtual Machines/vm1.vmcx";
  const volDir = path.join(root, "filer", "vs1", "vm_vol1");
  await fsp.mkdir(path.dirname(volDir), { recursive: true });
  if (opts.subvolume) await btrfsSubvolume(volDir);
  const shareDir = path.join(volDir, "vms");
  for (const [rel, size] of [
    [disk, opts.diskBytes],
    [config, 64 * 1024],
  ] as const) {
    await fsp.mkdir(path.dirname(path.join(shareDir, rel)), { recursive: true });
    await fsp.writeFile(path.join(shareDir, rel), sampleBytes(rel, size));
  }
  const configPath = path.join(root, "filer.json");
  const text = JSON.stringify({
    root: "filer",
    svms: [
      {
        name: "vs1",
        volumes: [{ name: "vm_vol1", junctionPath: "/vol1", ...(opts.cow ? { cow: opts.cow } : {}) }],
        shares: [{ name: "share1", path: "/vol1/vms" }],
      },
    ],
  });
  await fsp.writeFile(configPath, text);
  return { configPath, text, volDir, shareDir };
}

/** Removes a directory tree even where the backend sealed it immutable. */
export const removeTree = removeSealedTree;

/**
 * The entries of a volume's copy directory once the deleted copies in it are removed (a deletion
 * leaves that to the background); waits at most `ms` for them.
 */
export async function copiesLeft(copyDir: string, ms = 10_000): Promise<string[]> {
  const list = () => fsp.readdir(copyDir).catch(() => [] as string[]);
  for (const end = Date.now() + ms; (await list()).some((e) => e.startsWith(".deleted-")) && Date.now() < end;)
    await new Promise((r) => setTimeout(r, 10));
  return list();
}

/**
 * The entries of a tree (itself included, relative paths, "" for the top) that carry a write bit:
 * a sealed copy has none, so no user but root can change it.
 */
export async function writableEntries(dir: string, rel = ""): Promise<string[]> {
  const st = await fsp.lstat(path.join(dir, rel));
  const out = (st.mode & 0o222) !== 0 ? [rel] : [];
  if (st.isDirectory())
    for (const e of await fsp.readdir(path.join(dir, rel)))
      out.push(...(await writableEntries(dir, rel === "" ? e : `${rel}/${e}`)));
  return out;
}

/** Compares two trees file by file; returns the differences (empty when identical). */
export async function compareTrees(a: string, b: string, files: string[]): Promise<string[]> {
  const diffs: string[] = [];
  for (const f of files) {
    const [x, y] = await Promise.all([
      fsp.readFile(path.join(a, f)).catch(() => null),
      fsp.readFile(path.join(b, f)).catch(() => null),
    ]);
    if (!x || !y) diffs.push(`${f}: missing on ${!x ? "the left" : "the right"}`);
    else if (!x.equals(y)) diffs.push(`${f}: bytes differ`);
  }
  return diffs;
}
