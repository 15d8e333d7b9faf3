/**
 * What a volume's filesystem can do for copies and snapshots, found once per volume by trying it:
 *
 *   btrfs    the volume is a btrfs subvolume: reflink copies, read-only subvolume snapshots (no copy)
 *   reflink  reflink copies (XFS with reflink=1, btrfs without a subvolume): the snapshot reflinks the
 *            sealed copies (metadata only)
 *   none     kernel byte copies, once (ext4, tmpfs): the snapshot takes the sealed copies by rename
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { ErrorCodes, RvssError } from "@rvss/core";
import type { VolumeCapabilities } from "../backend";

const run = promisify(execFile);

export const COW_MODES = ["auto", "btrfs", "reflink", "none"] as const;
export type CowMode = (typeof COW_MODES)[number];
export type Cow = Exclude<CowMode, "auto">;

/** `filesystem` is the name statfs reports (btrfs, xfs, ext4, tmpfs, ...). */
export interface LocalCapabilities extends VolumeCapabilities {
  cow: Cow;
}

/** statfs f_type magic numbers (linux/magic.h) of the filesystems rvss names. */
const FS_NAMES: Record<number, string> = {
  0x9123683e: "btrfs",
  0x58465342: "xfs",
  0xef53: "ext4",
  0x01021994: "tmpfs",
  0x794c7630: "overlayfs",
  0x6969: "nfs",
  0x65735546: "fuse",
  0x2fc12fc1: "zfs",
};

/** The btrfs inode number of every subvolume's root directory. */
const BTRFS_SUBVOLUME_INO = 256;
const BTRFS_MAGIC = 0x9123683e;

/** Tries a reflink between two files in `dir`; true when the filesystem clones. */
async function canReflink(dir: string): Promise<boolean> {
  const probe = path.join(dir, `.rvss-reflink-probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    await fsp.writeFile(probe, "probe");
    await fsp.copyFile(probe, `${probe}.clone`, fs.constants.COPYFILE_FICLONE_FORCE | fs.constants.COPYFILE_EXCL);
    return true;
  } catch {
    return false;
  } finally {
    await fsp.rm(probe, { force: true });
    await fsp.rm(`${probe}.clone`, { force: true });
  }
}

/** The nearest directory at or above `dir` that exists: a volume not made yet is probed on its parent. */
async function existingDir(dir: string): Promise<string> {
  for (let d = dir; ; d = path.dirname(d)) {
    const st = await fsp.stat(d).catch(() => null);
    if (st?.isDirectory()) return d;
    if (d === path.dirname(d)) return d;
  }
}

/**
 * Finds what the volume at `dir` can do and checks it against what its configuration asks for;
 * a mismatch fails naming the volume and its filesystem.
 */
export async function detectCapabilities(
  svm: string,
  volume: string,
  dir: string,
  wanted: CowMode,
): Promise<LocalCapabilities> {
  const probeDir = await existingDir(dir);
  const st = await fsp.statfs(probeDir);
  const filesystem = FS_NAMES[st.type] ?? `unknown (statfs type 0x${st.type.toString(16)})`;
  const subvolume = probeDir === dir && st.type === BTRFS_MAGIC && (await fsp.stat(dir)).ino === BTRFS_SUBVOLUME_INO;
  const reflink = await canReflink(probeDir);
  const best: Cow = subvolume ? "btrfs" : reflink ? "reflink" : "none";
  const cow = wanted === "auto" ? best : wanted;
  const refuse = (why: string): never => {
    throw new RvssError(
      ErrorCodes.CONFIG_INVALID,
      `volume "${volume}" of SVM "${svm}" asks for cow "${wanted}", but ${dir} is on ${filesystem}, ${why}`,
      { svm, volume, path: dir, field: "cow" },
    );
  };
  if (cow === "btrfs" && !subvolume)
    refuse(
      st.type === BTRFS_MAGIC
        ? "and is not a btrfs subvolume (create it with: btrfs subvolume create " + dir + ")"
        : "which has no subvolume snapshots",
    );
  if (cow === "reflink" && !reflink) refuse("which cannot reflink (XFS needs mkfs.xfs -m reflink=1)");
  return { svm, volume, filesystem, cow, reflink: cow !== "none" && reflink, subvolume: cow === "btrfs" };
}

/** A btrfs read-only snapshot of subvolume `src` at `dest` (which must not exist). */
export async function btrfsSnapshot(src: string, dest: string): Promise<void> {
  await btrfs(["subvolume", "snapshot", "-r", src, dest]);
}

export async function btrfsDelete(subvolume: string): Promise<void> {
  await btrfs(["subvolume", "delete", subvolume]);
}

/** True when `dir` is the root of a btrfs subvolume (a snapshot is one). */
export async function isSubvolume(dir: string): Promise<boolean> {
  const [st, fsSt] = await Promise.all([fsp.stat(dir).catch(() => null), fsp.statfs(dir).catch(() => null)]);
  return st?.ino === BTRFS_SUBVOLUME_INO && fsSt?.type === BTRFS_MAGIC;
}

async function btrfs(args: string[]): Promise<void> {
  try {
    await run("btrfs", args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new RvssError(
      ErrorCodes.STORAGE_FAILED,
      `btrfs ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`,
      {
        path: args[args.length - 1]!,
      },
    );
  }
}
