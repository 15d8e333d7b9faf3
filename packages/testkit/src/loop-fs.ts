/**
 * Real filesystems for storage tests: a sparse image file, formatted (XFS with reflink, btrfs, ext4),
 * attached to a loop device and mounted, then unmounted and detached again. Needs root; a test that
 * is not root skips with the reason, and one that is root but cannot mount fails (CI is root).
 */
import { execFile } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export type LoopFsKind = "xfs" | "btrfs" | "ext4";

export interface LoopFs {
  kind: LoopFsKind;
  mountPoint: string;
  device: string;
  image: string;
  /** Unmounts, detaches the loop device and removes the image (safe to call twice). */
  dispose(): Promise<void>;
}

/** Why loop-mount tests cannot run here, or null when they can (the process is root). */
export function loopFsUnavailable(): string | null {
  return process.getuid?.() === 0 ? null : "loop-mount tests need root (mount -o loop); this process is not root";
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args)).stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** Makes and mounts a `sizeMiB` filesystem of `kind` at `<dir>/<kind>` (the image lives in `dir`). */
export async function mountLoopFs(kind: LoopFsKind, dir: string, sizeMiB = 1024): Promise<LoopFs> {
  const image = path.join(dir, `${kind}.img`);
  const mountPoint = path.join(dir, kind);
  await fsp.mkdir(mountPoint, { recursive: true });
  await fsp.writeFile(image, "");
  await fsp.truncate(image, sizeMiB * 1024 * 1024);
  const device = await sh("losetup", ["-f", "--show", image]);
  let mounted = false;
  const dispose = async (): Promise<void> => {
    if (mounted) {
      await sh("umount", [mountPoint]);
      mounted = false;
    }
    await run("losetup", ["-d", device]).catch(() => undefined);
    await fsp.rm(image, { force: true });
    await fsp.rm(mountPoint, { recursive: true, force: true });
  };
  try {
    if (kind === "xfs") await sh("mkfs.xfs", ["-q", "-f", "-m", "reflink=1", device]);
    else if (kind === "btrfs") await sh("mkfs.btrfs", ["-q", "-f", device]);
    else await sh("mkfs.ext4", ["-q", "-F", device]);
    await sh("mount", [device, mountPoint]);
    mounted = true;
  } catch (err) {
    await dispose();
    throw err;
  }
  return { kind, mountPoint, device, image, dispose };
}

const BTRFS_MAGIC = 0x9123683e;

/**
 * Used bytes of the filesystem holding `p`, after flushing it (and, on btrfs, after deleted
 * subvolumes are cleaned, which btrfs does in the background), so deltas count what really landed.
 */
export async function usedBytes(p: string): Promise<number> {
  await sh("sync", ["-f", p]);
  if ((await fsp.statfs(p)).type === BTRFS_MAGIC) {
    // A commit wakes the cleaner, which otherwise waits for the next commit interval (30 s).
    await sh("btrfs", ["filesystem", "sync", p]);
    await sh("btrfs", ["subvolume", "sync", p]);
    // And one more commit, for the extents the cleaner freed.
    await sh("btrfs", ["filesystem", "sync", p]);
  }
  const st = await fsp.statfs(p);
  return (st.blocks - st.bfree) * st.bsize;
}

/** Bytes of `file` in extents it shares with other files (reflinks, snapshots), from `filefrag -v`. */
export async function sharedBytes(file: string): Promise<number> {
  const out = await sh("filefrag", ["-v", "-b4096", file]);
  let blocks = 0;
  for (const line of out.split("\n")) {
    // " ext: logical_offset: physical_offset: length: expected: flags:"
    const m = /^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+):.*\bshared\b/.exec(line);
    if (m) blocks += Number(m[1]);
  }
  return blocks * 4096;
}

/** Makes `dir` a btrfs subvolume (it must not exist). */
export async function btrfsSubvolume(dir: string): Promise<void> {
  await sh("btrfs", ["subvolume", "create", dir]);
}

/** The btrfs read-only property of a subvolume ("true" or "false"). */
export async function btrfsReadOnly(subvolume: string): Promise<string> {
  return (await sh("btrfs", ["property", "get", "-ts", subvolume, "ro"])).replace(/^ro=/, "");
}
