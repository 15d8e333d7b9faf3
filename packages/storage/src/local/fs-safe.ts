/**
 * File operations that cannot be tricked: a listed file is opened without following a final
 * symlink, its type re-checked on the open descriptor, and its real path checked to lie inside the
 * share, so swapping a file for a symlink between check and copy fails instead of escaping. A
 * restore writes only through directories it holds open, each reached from the last without
 * following a link (HeldDir).
 */
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { ErrorCodes, RvssError, kindName, type EntryKind, type ErrorCode } from "@rvss/core";
import { btrfsDelete, isSubvolume } from "./capabilities";

const run = promisify(execFile);

export interface OpenedFile {
  handle: fsp.FileHandle;
  size: number;
  attributes: FileAttributes;
}

/** What a backup keeps of a file or directory besides its bytes, and a restore gives back. */
export interface FileAttributes {
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

function attributesOf(st: fs.Stats): FileAttributes {
  return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
}

const OPEN_SOURCE = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
const OPEN_DIRECTORY = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

/**
 * Opens `rel` below the directory `rootReal` (a real path) for reading, only if it is a regular
 * file that really lies inside. FIFOs never block (O_NONBLOCK); they are refused by type.
 */
export async function openRegularInside(
  rootReal: string,
  rel: string,
  details: Record<string, string>,
): Promise<OpenedFile> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path.join(rootReal, rel), OPEN_SOURCE);
  } catch (err) {
    throw openFailure(err, rel, details);
  }
  try {
    const st = await handle.stat();
    checkRegular(st, rel, details);
    await checkInside(handle, rootReal, `file "${rel}"`, { ...details, file: rel });
    return { handle, size: st.size, attributes: attributesOf(st) };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * openRegularInside and a reflink of the opened file to `dest` (which must not exist), as one
 * synchronous step for eachInSlices: every call in it is metadata, and made directly each costs a
 * few microseconds instead of a thread-pool round trip. Returns the source's size and attributes.
 */
export function cloneRegularInsideSync(
  rootReal: string,
  rel: string,
  dest: string,
  details: Record<string, string>,
): { size: number; attributes: FileAttributes } {
  let fd: number;
  try {
    fd = fs.openSync(path.join(rootReal, rel), OPEN_SOURCE);
  } catch (err) {
    throw openFailure(err, rel, details);
  }
  try {
    const st = fs.fstatSync(fd);
    checkRegular(st, rel, details);
    checkReal(fs.readlinkSync(`/proc/self/fd/${fd}`), rootReal, `file "${rel}"`, { ...details, file: rel });
    const { COPYFILE_EXCL, COPYFILE_FICLONE_FORCE } = fs.constants;
    fs.copyFileSync(`/proc/self/fd/${fd}`, dest, COPYFILE_EXCL | COPYFILE_FICLONE_FORCE);
    return { size: st.size, attributes: attributesOf(st) };
  } finally {
    fs.closeSync(fd);
  }
}

function openFailure(err: unknown, rel: string, details: Record<string, string>): RvssError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR")
    return new RvssError(ErrorCodes.FILE_NOT_FOUND, `file "${rel}" does not exist in share "${details.share}"`, {
      ...details,
      file: rel,
    });
  if (code === "ELOOP")
    return new RvssError(
      ErrorCodes.FILE_NOT_REGULAR,
      `file "${rel}" in share "${details.share}" is a symbolic link; only regular files can be copied`,
      { ...details, file: rel },
    );
  return new RvssError(
    ErrorCodes.STORAGE_FAILED,
    `cannot open "${rel}" in share "${details.share}": ${(err as Error).message}`,
    { ...details, file: rel },
  );
}

function checkRegular(st: fs.Stats, rel: string, details: Record<string, string>): void {
  if (!st.isFile())
    throw new RvssError(
      ErrorCodes.FILE_NOT_REGULAR,
      `"${rel}" in share "${details.share}" is a ${kindName(entryKind(st))}, not a regular file`,
      { ...details, file: rel },
    );
}

async function checkInside(
  handle: fsp.FileHandle,
  rootReal: string,
  what: string,
  details: Record<string, string>,
): Promise<void> {
  checkReal(await fsp.readlink(`/proc/self/fd/${handle.fd}`), rootReal, what, details);
}

/** `real`, the path an open descriptor resolves to, must lie inside `rootReal`. */
function checkReal(real: string, rootReal: string, what: string, details: Record<string, string>): void {
  if (!real.startsWith(rootReal + path.sep))
    throw new RvssError(
      ErrorCodes.PATH_ESCAPES_SHARE,
      `${what} resolves to ${real}, outside share "${details.share}"`,
      details,
    );
}

/**
 * The attributes of the directory `rel` below `rootReal` (a real path), if it really lies inside;
 * one synchronous step, for eachInSlices.
 */
export function directoryAttributesInsideSync(
  rootReal: string,
  rel: string,
  details: Record<string, string>,
): FileAttributes {
  let fd: number;
  try {
    fd = fs.openSync(path.join(rootReal, rel), OPEN_DIRECTORY);
  } catch (err) {
    throw new RvssError(
      ErrorCodes.STORAGE_FAILED,
      `cannot open directory "${rel}" in share "${details.share}": ${(err as Error).message}`,
      { ...details, path: rel },
    );
  }
  try {
    checkReal(fs.readlinkSync(`/proc/self/fd/${fd}`), rootReal, `directory "${rel}"`, { ...details, path: rel });
    return attributesOf(fs.fstatSync(fd));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A directory held open. Names in it are reached through its descriptor (/proc/self/fd/N/name, which
 * the kernel resolves as openat would), so renaming or swapping a directory on the way to it cannot
 * send what is done there anywhere else.
 */
export class HeldDir {
  private constructor(private readonly handle: fsp.FileHandle) {}

  /** Opens `dir`, following links: only for a directory the operator configured. */
  static async open(dir: string): Promise<HeldDir> {
    return new HeldDir(await fsp.open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
  }

  /** `name` (one component) in this directory. */
  at(name: string): string {
    return `/proc/self/fd/${this.handle.fd}/${name}`;
  }

  /** Gives the directory the attributes, with its owner only when rvss runs as root. */
  setAttributes(a: FileAttributes): Promise<void> {
    return setAttributes(this.handle, a);
  }

  close(): Promise<void> {
    return this.handle.close();
  }

  /**
   * Opens `rel` ("/"-separated, checked names; "" is this directory again) below this one a component
   * at a time, never following a link: a component that is a link or not a directory is refused with
   * `refusal.code`, naming it. With `made`, missing directories are made and their paths added to it
   * (and the result is never null); without, a missing one gives null.
   */
  async below(rel: string, refusal: Refusal, made?: string[]): Promise<HeldDir | null> {
    let cur: HeldDir | null = new HeldDir(await fsp.open(this.at("."), fs.constants.O_RDONLY));
    const parts = rel === "" ? [] : rel.split("/");
    try {
      for (let i = 0; i < parts.length && cur; i++) {
        const next = await openComponent(cur, parts[i]!, parts.slice(0, i + 1).join("/"), refusal, made);
        await cur.close();
        cur = next && new HeldDir(next);
      }
      return cur;
    } catch (err) {
      await cur?.close();
      throw err;
    }
  }
}

/** One component `name` (reached as `sofar`) in `dir`, a directory and no link, or null when missing. */
async function openComponent(
  dir: HeldDir,
  name: string,
  sofar: string,
  refusal: Refusal,
  made?: string[],
): Promise<fsp.FileHandle | null> {
  const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
  const open = () => fsp.open(dir.at(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  const shown = refusal.base ? path.join(refusal.base, sofar) : sofar;
  const failed = (err: unknown) =>
    new RvssError(ErrorCodes.STORAGE_FAILED, `${refusal.into}: cannot open "${shown}": ${errno(err) ?? err}`, {
      ...refusal.details,
      path: shown,
    });
  let err: unknown;
  try {
    return await open();
  } catch (e) {
    err = e;
  }
  if (errno(err) === "ENOENT" && made) {
    // mkdir makes a directory or fails; it never follows a link planted under the name.
    await fsp.mkdir(dir.at(name)).then(
      () => made.push(sofar),
      (e: unknown) => {
        if (errno(e) !== "EEXIST") throw failed(e);
      },
    );
    try {
      return await open();
    } catch (e) {
      err = e;
    }
  }
  // With `made`, missing again right after it was made means it was taken away meanwhile: a failure.
  if (errno(err) === "ENOENT" && !made) return null;
  if (errno(err) === "ENOTDIR" || errno(err) === "ELOOP") {
    const st = await fsp.lstat(dir.at(name)).catch(() => null);
    throw new RvssError(
      refusal.code,
      `${refusal.into}: "${shown}" is ${st ? `a ${kindName(entryKind(st))}` : "not a directory"}; a restore goes only through directories, never through a link`,
      { ...refusal.details, path: shown },
    );
  }
  throw failed(err);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** How a restore that meets a link is refused. */
export interface Refusal {
  code: ErrorCode;
  /** Where the restore writes, as the message starts: `restore into share "s1" of SVM "vs1"`. */
  into: string;
  /** What the paths walked are relative to, when messages should name them in full. */
  base?: string;
  details: Record<string, string>;
}

/**
 * What is at `name` in `dir`: a regular file's size and sha256, "other" for anything else (a link,
 * a directory, a FIFO), null for nothing. Never follows a link, never opens anything but a file.
 */
export async function contentsAt(dir: HeldDir, name: string): Promise<Copied | "other" | null> {
  const st = await fsp.lstat(dir.at(name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return null;
    throw err;
  });
  if (!st) return null;
  if (!st.isFile()) return "other";
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  const handle = await fsp
    .open(dir.at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
    .catch((err: NodeJS.ErrnoException) => {
      // Swapped since the lstat: gone, or a link.
      if (err.code === "ENOENT") return null;
      if (err.code === "ELOOP") return "other" as const;
      throw err;
    });
  if (handle === null || handle === "other") return handle;
  try {
    return (await handle.stat()).isFile() ? await sha256File(handle) : "other";
  } finally {
    await handle.close();
  }
}

/** Mode, times, and (as root, the only one who may give files away) the owner. */
export async function setAttributes(handle: fsp.FileHandle, a: FileAttributes): Promise<void> {
  // chown clears setuid and setgid, so it goes first.
  if (process.getuid?.() === 0) await handle.chown(a.uid, a.gid);
  await handle.chmod(a.mode);
  await handle.utimes(new Date(), new Date(a.mtimeMs));
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
 * Copies an opened file to `dest` (which must not exist) in the kernel (copy_file_range), never
 * through JavaScript; clones take cloneRegularInsideSync. The source is reopened through its
 * descriptor, so a file swapped after the checks is not read. Closes the source; returns the bytes.
 */
export async function copyOpened(src: OpenedFile, dest: string): Promise<number> {
  try {
    await fsp.copyFile(`/proc/self/fd/${src.handle.fd}`, dest, fs.constants.COPYFILE_EXCL);
  } finally {
    await src.handle.close();
  }
  return src.size;
}

/**
 * Copies an opened file into `dest`, a file rvss made and holds open, in the kernel: a reflink where
 * the filesystem can clone, else copy_file_range. Closes the source.
 */
export async function copyInto(src: OpenedFile, dest: fsp.FileHandle): Promise<void> {
  const from = `/proc/self/fd/${src.handle.fd}`;
  const to = `/proc/self/fd/${dest.fd}`;
  try {
    await fsp.copyFile(from, to, fs.constants.COPYFILE_FICLONE_FORCE).catch(() => fsp.copyFile(from, to));
  } finally {
    await src.handle.close();
  }
}

/**
 * The file's sha256; at most `bytesPerSecond` when given (verification runs beside backups). A path
 * is read only if it is a regular file: a symlink is not followed and a FIFO neither opened to
 * block nor read.
 */
export async function sha256File(file: string | fsp.FileHandle, bytesPerSecond = 0): Promise<Copied> {
  const hash = createHash("sha256");
  let bytes = 0;
  const t0 = performance.now();
  const opts = { highWaterMark: 1 << 20 };
  // An open file is read from its start and stays open.
  const stream =
    typeof file === "string"
      ? (await openRegular(file)).createReadStream(opts)
      : file.createReadStream({ ...opts, start: 0, autoClose: false });
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (bytesPerSecond > 0) {
      const ahead = (bytes / bytesPerSecond) * 1000 - (performance.now() - t0);
      if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
    }
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** Opens a regular file for reading without following a link or blocking on a FIFO; anything else is refused. */
async function openRegular(file: string): Promise<fsp.FileHandle> {
  const handle = await fsp.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  const st = await handle.stat();
  if (st.isFile()) return handle;
  await handle.close();
  throw new RvssError(ErrorCodes.FILE_NOT_REGULAR, `${file} is a ${kindName(entryKind(st))}, not a regular file`, {
    file,
  });
}

/**
 * Flushes every file and directory of a tree to disk (fsync works on read-only descriptors). Links
 * and special files are not opened: a FIFO would block the open, a device do anything.
 */
export async function syncTree(target: string): Promise<void> {
  const st = await fsp.lstat(target);
  if (!st.isFile() && !st.isDirectory()) return;
  if (st.isDirectory()) for (const e of await fsp.readdir(target)) await syncTree(path.join(target, e));
  const handle = await fsp.open(target, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
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
 * Runs `fn` over `items` synchronously, in slices of at most SLICE_MS, letting the event loop run
 * between slices. For metadata calls (stat, chmod, unlink, mkdir, readdir, a reflink): through the
 * thread pool each is a round trip of 20-40 µs on a busy 2-core machine, made directly 1-5 µs (320
 * chmods: 6-12 ms as promises, 0.8 ms direct). Items added to `items` (an array) while it runs are
 * taken too.
 */
export async function eachInSlices<T>(items: Iterable<T>, fn: (item: T) => void): Promise<void> {
  const pause = slicePauser();
  for (const item of items) {
    fn(item);
    await pause();
  }
}

/** A pause that lets the event loop run once SLICE_MS of synchronous work went by since it last ran. */
export function slicePauser(): () => Promise<void> {
  let start = performance.now();
  return async () => {
    if (performance.now() - start < SLICE_MS) return;
    await new Promise((resolve) => setImmediate(resolve));
    start = performance.now();
  };
}

const SLICE_MS = 4;

interface TreeEntry {
  path: string;
  kind: "file" | "directory" | "other";
  mode: number;
}

/**
 * Every entry of a tree (none when it is missing), each directory after what it holds, read in
 * slices; a twin removing the same tree meanwhile makes entries go missing, which is fine.
 */
async function treeEntries(target: string): Promise<TreeEntry[]> {
  const top = fs.lstatSync(target, { throwIfNoEntry: false });
  if (!top) return [];
  if (!top.isDirectory()) return [{ path: target, kind: top.isFile() ? "file" : "other", mode: top.mode }];
  const others: TreeEntry[] = [];
  const dirs: TreeEntry[] = [{ path: target, kind: "directory", mode: top.mode }];
  await eachInSlices(dirs, (d) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d.path, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(d.path, e.name);
      if (e.isDirectory()) dirs.push({ path: p, kind: "directory", mode: 0 });
      else if (!e.isFile()) others.push({ path: p, kind: "other", mode: 0 });
      else {
        const st = fs.lstatSync(p, { throwIfNoEntry: false });
        if (st) others.push({ path: p, kind: "file", mode: st.mode });
      }
    }
  });
  return [...others, ...dirs.reverse()];
}

/** Paths per chattr process, well below the kernel's limit on a command line. */
const CHATTR_BATCH = 512;

/**
 * Makes trees read-only on disk. A shadow copy is made read-only (`readOnly`: no write bit, which
 * stops every user but root, SMB users among them), in-process; a snapshot is sealed (`seal`):
 * read-only, and immutable (chattr +i) when rvss runs as root, so root cannot change it either.
 * Only the snapshot gets the attribute: it is the backup, while a copy lives until its snapshot
 * takes it, and on ext4 setting the attribute writes the file's dirty pages back.
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
   * No write bit on any directory or regular file of the tree (chmod a=rX), in-process; idempotent.
   * An entry sealed immutable before refuses the chmod until the attribute is cleared.
   */
  async readOnly(target: string): Promise<void> {
    await this.readOnlyEntries(await treeEntries(target));
  }

  private async readOnlyEntries(entries: TreeEntry[]): Promise<void> {
    const chmod = (e: TreeEntry): void =>
      fs.chmodSync(e.path, e.kind === "directory" || (e.mode & 0o111) !== 0 ? 0o555 : 0o444);
    const immutable: TreeEntry[] = [];
    await eachInSlices(
      entries.filter((e) => e.kind !== "other"),
      (e) => {
        try {
          chmod(e);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "EPERM") immutable.push(e);
          else if (code !== "ENOENT") throw err;
        }
      },
    );
    if (immutable.length === 0) return;
    if (!(await this.usesImmutable())) throw new Error(`chmod ${immutable[0]!.path}: operation not permitted`);
    await this.chattr("-i", immutable);
    await eachInSlices(immutable, chmod);
  }

  private async chattr(flag: "+i" | "-i", entries: TreeEntry[]): Promise<void> {
    for (let i = 0; i < entries.length; i += CHATTR_BATCH)
      await tool("chattr", [flag, "--", ...entries.slice(i, i + CHATTR_BATCH).map((e) => e.path)]);
  }

  /** Read-only, and immutable where the attribute works: for root too. */
  async seal(target: string): Promise<void> {
    const entries = (await treeEntries(target)).filter((e) => e.kind !== "other");
    await this.readOnlyEntries(entries);
    if (await this.usesImmutable()) await this.chattr("+i", entries);
  }

  /** Lets `dir` itself be renamed (its entries stay read-only); `seal` closes it again. */
  async unsealTop(dir: string): Promise<void> {
    try {
      await fsp.chmod(dir, 0o755);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EPERM" || !(await this.usesImmutable())) throw err;
      await tool("chattr", ["-i", "--", dir]);
      await fsp.chmod(dir, 0o755);
    }
  }

  async unseal(target: string): Promise<void> {
    if (!(await exists(target))) return;
    if (await this.usesImmutable()) await chattr("-i", target);
    await tool("chmod", ["-R", "u+w", "--", target]);
  }

  /**
   * Removes a tree even if sealed; missing is fine, and so is another remover taking it away
   * meanwhile. What nothing made immutable (a copy) goes in-process; a sealed tree through chattr.
   */
  async remove(target: string): Promise<void> {
    const entries = await treeEntries(target).catch(() => null);
    let removed = entries !== null;
    await eachInSlices(entries ?? [], (e) => {
      if (!removed) return;
      try {
        if (e.kind === "directory") fs.rmdirSync(e.path);
        else fs.unlinkSync(e.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") removed = false;
      }
    });
    if (removed) return;
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
  // A tree being removed meanwhile (a deleted copy's background removal) loses entries under the walk.
  const entries = await fsp.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw err;
  });
  for (const e of entries) await deleteReadOnlySubvolumes(path.join(dir, e));
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
