/**
 * File operations that cannot be tricked: a listed file is opened without following a final
 * symlink, its type re-checked on the open descriptor, and its real path checked to lie inside the
 * share, so swapping a file for a symlink between check and copy fails instead of escaping.
 */
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { ErrorCodes, RvssError, kindName, type EntryKind } from "@rvss/core";
import { btrfsDelete, isSubvolume } from "./capabilities";

const run = promisify(execFile);

export interface OpenedFile {
  handle: fsp.FileHandle;
  size: number;
  mode: number;
}

/**
 * Opens `rel` below the directory `rootReal` (a real path) for reading, only if it is a regular
 * file that really lies inside. FIFOs never block (O_NONBLOCK); they are refused by type.
 */
export async function openRegularInside(
  rootReal: string,
  rel: string,
  details: Record<string, string>,
): Promise<OpenedFile> {
  const full = path.join(rootReal, rel);
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      throw new RvssError(ErrorCodes.FILE_NOT_FOUND, `file "${rel}" does not exist in share "${details.share}"`, {
        ...details,
        file: rel,
      });
    }
    if (code === "ELOOP") {
      throw new RvssError(
        ErrorCodes.FILE_NOT_REGULAR,
        `file "${rel}" in share "${details.share}" is a symbolic link; only regular files can be copied`,
        { ...details, file: rel },
      );
    }
    throw new RvssError(
      ErrorCodes.STORAGE_FAILED,
      `cannot open "${rel}" in share "${details.share}": ${(err as Error).message}`,
      { ...details, file: rel },
    );
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new RvssError(
        ErrorCodes.FILE_NOT_REGULAR,
        `"${rel}" in share "${details.share}" is a ${kindName(entryKind(st))}, not a regular file`,
        { ...details, file: rel },
      );
    }
    const real = await fsp.readlink(`/proc/self/fd/${handle.fd}`);
    if (!real.startsWith(rootReal + path.sep)) {
      throw new RvssError(
        ErrorCodes.PATH_ESCAPES_SHARE,
        `file "${rel}" resolves to ${real}, outside share "${details.share}"`,
        { ...details, file: rel },
      );
    }
    return { handle, size: st.size, mode: st.mode };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** What a directory entry or a stat says the thing is. */
export function entryKind(st: fs.Dirent | fs.Stats): EntryKind {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  if (st.isBlockDevice() || st.isCharacterDevice()) return "device";
  return "other";
}

export interface Copied {
  bytes: number;
  sha256: string;
}

/**
 * Copies an opened file to `dest` (which must not exist) in the kernel, never through JavaScript:
 * a reflink when `reflink` (failing where the filesystem cannot clone), else copy_file_range.
 * The source is reopened through its descriptor, so a file swapped after the checks is not read.
 * Closes the source; returns the bytes copied.
 */
export async function copyOpened(src: OpenedFile, dest: string, reflink: boolean): Promise<number> {
  const { COPYFILE_EXCL, COPYFILE_FICLONE_FORCE } = fs.constants;
  try {
    await fsp.copyFile(`/proc/self/fd/${src.handle.fd}`, dest, COPYFILE_EXCL | (reflink ? COPYFILE_FICLONE_FORCE : 0));
  } finally {
    await src.handle.close();
  }
  return src.size;
}

/** The file's sha256; at most `bytesPerSecond` when given (verification runs beside backups). */
export async function sha256File(file: string, bytesPerSecond = 0): Promise<Copied> {
  const hash = createHash("sha256");
  let bytes = 0;
  const t0 = performance.now();
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (bytesPerSecond > 0) {
      const ahead = (bytes / bytesPerSecond) * 1000 - (performance.now() - t0);
      if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
    }
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** Flushes every file and directory of a tree to disk (fsync works on read-only descriptors). */
export async function syncTree(target: string): Promise<void> {
  const st = await fsp.lstat(target);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) for (const e of await fsp.readdir(target)) await syncTree(path.join(target, e));
  const handle = await fsp.open(target, fs.constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a file atomically (temp file + rename), so readers never see half of it. */
export async function writeFileAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await fsp.writeFile(tmp, content);
  await fsp.rename(tmp, file);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes trees read-only on disk. Mode bits stop ordinary users; when rvss runs as root (which mode
 * bits do not stop) it also sets the immutable attribute with chattr, if the filesystem has it.
 */
export class ReadOnlyGuard {
  private immutable: Promise<boolean> | null = null;

  constructor(private readonly probeDir: string) {}

  /** Whether chattr +i works here (root, and a filesystem with the attribute). */
  usesImmutable(): Promise<boolean> {
    this.immutable ??= this.probe();
    return this.immutable;
  }

  private async probe(): Promise<boolean> {
    if (process.getuid?.() !== 0) return false;
    const f = path.join(this.probeDir, `.rvss-immutable-probe-${process.pid}`);
    try {
      await fsp.writeFile(f, "");
      await run("chattr", ["+i", f]);
      await run("chattr", ["-i", f]);
      return true;
    } catch {
      return false;
    } finally {
      await fsp.rm(f, { force: true });
    }
  }

  /**
   * Idempotent: a tree sealed before (or half-sealed by a crash) is sealed again. One chmod and one
   * find/chattr over the tree (they walk it in a few milliseconds, where a walk in JavaScript takes
   * one round trip per entry); neither follows links.
   */
  async seal(target: string): Promise<void> {
    const immutable = await this.usesImmutable();
    try {
      await tool("chmod", ["-R", "a=rX", "--", target]);
    } catch (err) {
      // Sealed before: immutable entries refuse the chmod until cleared.
      if (!immutable) throw err;
      await chattr("-i", target);
      await tool("chmod", ["-R", "a=rX", "--", target]);
    }
    if (immutable) await chattr("+i", target);
  }

  /** Lets `dir` itself be renamed (its entries stay sealed); `seal` closes it again. */
  async unsealTop(dir: string): Promise<void> {
    if (await this.usesImmutable()) await tool("chattr", ["-i", "--", dir]);
    await fsp.chmod(dir, 0o755);
  }

  async unseal(target: string): Promise<void> {
    if (!(await exists(target))) return;
    if (await this.usesImmutable()) await chattr("-i", target);
    await tool("chmod", ["-R", "u+w", "--", target]);
  }

  /** Removes a tree even if sealed; missing is fine, and so is another remover taking it away meanwhile. */
  async remove(target: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (!(await exists(target))) return;
      try {
        if (await this.usesImmutable()) await chattr("-i", target);
        // Root removes entries whatever their modes; anyone else needs the write bits back.
        if (process.getuid?.() !== 0) await tool("chmod", ["-R", "u+w", "--", target]);
        await tool("rm", ["-rf", "--", target]);
        return;
      } catch (err) {
        // A twin run removing the same tree makes entries vanish under the walk: look again.
        if (attempt >= 3) throw err;
      }
    }
  }
}

/**
 * Removes a directory tree that may hold sealed (read-only, immutable) copies or snapshots, btrfs
 * read-only snapshots among them (deleted as subvolumes: nothing in them can be unsealed).
 */
export async function removeSealedTree(dir: string): Promise<void> {
  await deleteReadOnlySubvolumes(dir);
  await new ReadOnlyGuard(path.dirname(dir)).remove(dir);
}

async function deleteReadOnlySubvolumes(dir: string): Promise<void> {
  const st = await fsp.lstat(dir).catch(() => null);
  if (!st?.isDirectory()) return;
  if (await isSubvolume(dir)) {
    const writable = await fsp.access(dir, fs.constants.W_OK).then(
      () => true,
      (err: NodeJS.ErrnoException) => err.code !== "EROFS",
    );
    if (!writable) return btrfsDelete(dir);
  }
  for (const e of await fsp.readdir(dir)) await deleteReadOnlySubvolumes(path.join(dir, e));
}

/**
 * Sets or clears the immutable flag on every directory and regular file of a tree, in one find
 * (links and special files have no such flag; chattr -R stops at them).
 */
function chattr(flag: "+i" | "-i", target: string): Promise<void> {
  return tool("find", [target, "(", "-type", "f", "-o", "-type", "d", ")", "-exec", "chattr", flag, "--", "{}", "+"]);
}

async function tool(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new RvssError(
      ErrorCodes.STORAGE_FAILED,
      `${cmd} ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`,
      {
        path: args[args.length - 1]!,
      },
    );
  }
}
