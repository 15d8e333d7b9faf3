/**
 * The `local` backend: real files and directories play the filer, so every copy, exposed share and
 * snapshot can be inspected and a restore checked byte for byte.
 *
 *   <root>/<svm>/<volume>/...                      volume content (shares point into it)
 *   <root>/<svm>/<volume>/.shadowcopy/<id>/        a shadow copy: the share's listed files
 *   <root>/<svm>/<volume>/.shadowcopy/<id>.json    its size and file count
 *   <root>/<svm>/<volume>/.shadowcopy/<id>.manifest.json   checksums, written when sealed
 *   <root>/<svm>/<volume>/.snapshot/<name>/        a backup snapshot: read-only image of the volume
 *   <root>/<svm>/.shares/<share@{id}>.json         exposed shares (the SMB share table)
 *
 * Work happens in ".tmp-" entries that are renamed into place when complete, so a crash never
 * leaves a half-made copy or snapshot under its final name.
 */
import * as fsp from "node:fs/promises";
import * as fs from "node:fs";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import { ErrorCodes, RvssError, notRegular, type LayoutEntry } from "@rvss/core";
import type {
  CopyInfo,
  CreateShadowCopyRequest,
  ExposeRequest,
  ExposedShareInfo,
  FileProblem,
  ShareResolution,
  RestoreJob,
  RestoredFileReport,
  ShadowCopyInfo,
  ShadowCopyRef,
  ShareLocation,
  SnapshotInfo,
  SnapshotRef,
  StorageBackend,
} from "../backend";
import { loadFilerConfig, under, type FilerConfig, type SvmConfig } from "./filer-config";
import { ReadOnlyGuard, copyOpened, exists, openRegularInside, sha256File, writeFileAtomic } from "./fs-safe";
import { walkTree } from "./walk";

export const SHADOW_DIR = ".shadowcopy";
export const SNAPSHOT_DIR = ".snapshot";
const SHARES_DIR = ".shares";
const TMP = ".tmp-";

interface Manifest {
  version: 1;
  shadowCopyId: string;
  share: string;
  files: Record<string, { bytes: number; sha256: string }>;
}

interface ExposedRecord {
  name: string;
  volume: string;
  shadowCopyId: string;
  baseShare: string;
  writable: boolean;
  exposedAt: number;
}

export class LocalBackend implements StorageBackend {
  readonly kind = "local";
  private readonly guard: ReadOnlyGuard;

  constructor(
    readonly filer: FilerConfig,
    private readonly source = "the filer description",
  ) {
    this.guard = new ReadOnlyGuard(filer.root);
  }

  static fromFile(file: string): LocalBackend {
    return new LocalBackend(loadFilerConfig(file), file);
  }

  private svm(name: string): SvmConfig {
    const svm = this.filer.svms.find((s) => s.name === name);
    if (!svm) {
      const known = this.filer.svms.map((s) => s.name).join(", ") || "none";
      throw new RvssError(
        ErrorCodes.SVM_NOT_FOUND,
        `SVM "${name}" is not defined in ${this.source} (known: ${known})`,
        { svm: name },
      );
    }
    return svm;
  }

  private volumeDir(svm: string, volume: string): string {
    return path.join(this.filer.root, svm, volume);
  }

  private cloneDir(ref: ShadowCopyRef): string {
    return path.join(this.volumeDir(ref.svm, ref.volume), SHADOW_DIR, ref.shadowCopyId);
  }

  async listSvms(): Promise<string[]> {
    return this.filer.svms.map((s) => s.name);
  }

  async svmNames(svm: string): Promise<string[] | null> {
    const s = this.filer.svms.find((x) => x.name === svm);
    return s ? [s.name, ...s.aliases] : null;
  }

  async resolveShare(svmName: string, shareName: string): Promise<ShareResolution> {
    const svm = this.svm(svmName);
    const share = svm.shares.find((s) => s.name.toLowerCase() === shareName.toLowerCase());
    if (!share) {
      const known = svm.shares.map((s) => s.name).join(", ") || "none";
      throw new RvssError(
        ErrorCodes.SHARE_NOT_FOUND,
        `share "${shareName}" does not exist on SVM "${svmName}" (known: ${known})`,
        { svm: svmName, share: shareName },
      );
    }
    const volume = svm.volumes
      .filter((v) => under(share.path, v.junctionPath))
      .sort((a, b) => b.junctionPath.length - a.junctionPath.length)[0]!;
    const sharePath = path.posix.relative(volume.junctionPath, share.path);
    const resolved: ShareResolution = {
      svm: svm.name,
      share: share.name,
      volume: volume.name,
      sharePath,
      junctionPath: volume.junctionPath,
      namespacePath: share.path,
      junctionsBelow: svm.volumes
        .filter((v) => v.junctionPath !== share.path && v.name !== volume.name && under(v.junctionPath, share.path))
        .map((v) => v.junctionPath),
      shadowCopyDirDepth: svm.shadowCopyDirDepth,
    };
    const dir = this.shareDir(resolved);
    const st = await fsp.lstat(dir).catch(() => null);
    if (!st?.isDirectory()) {
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `share "${share.name}" of SVM "${svm.name}" points to ${share.path}, which is not a directory on volume "${volume.name}" (${dir})`,
        {
          svm: svm.name,
          share: share.name,
          volume: volume.name,
        },
      );
    }
    return resolved;
  }

  /** The share root on disk. */
  shareDir(share: Pick<ShareLocation, "svm" | "volume" | "sharePath">): string {
    return path.join(this.volumeDir(share.svm, share.volume), share.sharePath);
  }

  async checkFiles(share: ShareResolution, files: string[]): Promise<FileProblem[]> {
    const root = await fsp.realpath(this.shareDir(share));
    const problems: FileProblem[] = [];
    for (const rel of files) {
      try {
        const f = await openRegularInside(root, rel, { svm: share.svm, share: share.share });
        await f.handle.close();
      } catch (err) {
        if (!(err instanceof RvssError)) throw err;
        const rule =
          err.code === ErrorCodes.FILE_NOT_FOUND
            ? "file-not-found"
            : err.code === ErrorCodes.PATH_ESCAPES_SHARE
              ? "file-escapes-share"
              : "file-not-regular";
        if (err.code === ErrorCodes.STORAGE_FAILED) throw err;
        problems.push({ path: rel, rule, message: err.message });
      }
    }
    return problems;
  }

  walkShare(share: ShareResolution): AsyncIterable<LayoutEntry[]> {
    return walkTree(this.shareDir(share), {
      junctions: share.junctionsBelow.map((j) => path.posix.relative(share.namespacePath, j)),
      skipAtRoot: volumeDirs(share),
    });
  }

  /**
   * Each attempt copies into a directory of its own and writes the copy's description before the
   * copy takes its final name, so a copy under its final name is complete, and two runs of one
   * request (a command delivered twice) never write into or remove each other's work: the first to
   * take the name wins and the other uses its copy.
   */
  async createShadowCopy(req: CreateShadowCopyRequest): Promise<ShadowCopyInfo> {
    const ref = { svm: req.svm, volume: req.share.volume, shadowCopyId: req.shadowCopyId };
    const final = this.cloneDir(ref);
    const info = `${final}.json`;
    const made = await madeCopy(final, info);
    if (made) {
      // An earlier run may have made the copy and died (or failed) before sealing it.
      if (!req.writable) await this.sealShadowCopy(ref);
      return made;
    }
    const tmp = attemptDir(final);
    await fsp.mkdir(tmp, { recursive: true });
    let result: ShadowCopyInfo;
    let won: boolean;
    try {
      const root = await fsp.realpath(this.shareDir(req.share));
      let bytes = 0;
      let fileCount = 0;
      for await (const rel of req.files.length > 0 ? req.files : shareFiles(root, req.share)) {
        const src = await openRegularInside(root, rel, { svm: req.svm, share: req.share.share });
        await fsp.mkdir(path.dirname(path.join(tmp, rel)), { recursive: true });
        bytes += (await copyOpened(src, path.join(tmp, rel))).bytes;
        fileCount++;
        req.onProgress?.({ bytes, files: fileCount, bytesTotal: 0, filesTotal: req.files.length });
      }
      result = { clonePath: path.posix.join(SHADOW_DIR, req.shadowCopyId), bytes, fileCount };
      await writeFileAtomic(info, JSON.stringify({ ...result, share: req.share.share }));
      won = await renameUnlessTaken(tmp, final);
    } catch (err) {
      await this.guard.remove(tmp);
      // A twin that took the name first removes this attempt, maybe while it still copies.
      const twin = await madeCopy(final, info);
      if (twin) return twin;
      throw err;
    }
    if (!won) {
      await this.guard.remove(tmp);
      return (await madeCopy(final, info)) ?? result;
    }
    await this.removeAttempts(final);
    if (!req.writable) await this.sealShadowCopy(ref);
    return result;
  }

  private registry(svm: string): string {
    return path.join(this.filer.root, svm, SHARES_DIR);
  }

  async exposeShadowCopy(req: ExposeRequest): Promise<{ accessPath: string }> {
    const accessPath = this.cloneDir(req);
    if (!(await exists(accessPath))) {
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `shadow copy ${req.shadowCopyId} does not exist on volume "${req.volume}"; cannot expose it as ${req.exposedName}`,
        { ...req },
      );
    }
    const dir = this.registry(req.svm);
    await fsp.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${req.exposedName}.json`);
    if (!(await exists(file))) {
      const rec: ExposedRecord = {
        name: req.exposedName,
        volume: req.volume,
        shadowCopyId: req.shadowCopyId,
        baseShare: req.baseShare,
        writable: req.writable,
        exposedAt: Date.now(),
      };
      await writeFileAtomic(file, JSON.stringify(rec));
    }
    return { accessPath };
  }

  /** Where an exposed share's files are, for clients of the local filer (and tests). */
  async exposedSharePath(svm: string, name: string): Promise<string> {
    const file = path.join(this.registry(svm), `${name}.json`);
    if (!(await exists(file)))
      throw new RvssError(ErrorCodes.SHARE_NOT_FOUND, `share "${name}" does not exist on SVM "${svm}"`, {
        svm,
        share: name,
      });
    const rec = JSON.parse(await fsp.readFile(file, "utf8")) as ExposedRecord;
    return this.cloneDir({ svm, volume: rec.volume, shadowCopyId: rec.shadowCopyId });
  }

  async sealShadowCopy(ref: ShadowCopyRef): Promise<void> {
    const dir = this.cloneDir(ref);
    if (!(await exists(dir)))
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `shadow copy ${ref.shadowCopyId} does not exist on volume "${ref.volume}"`,
        { ...ref },
      );
    const manifestFile = `${dir}.manifest.json`;
    if (!(await exists(manifestFile))) {
      const share = ((await readJson<{ share?: string }>(`${dir}.json`)) ?? {}).share ?? "";
      const manifest: Manifest = { version: 1, shadowCopyId: ref.shadowCopyId, share, files: {} };
      for (const rel of await listTree(dir)) manifest.files[rel] = await sha256File(path.join(dir, rel));
      await writeFileAtomic(manifestFile, JSON.stringify(manifest));
    }
    await this.guard.seal(dir);
    await this.guard.seal(manifestFile);
  }

  async deleteShadowCopy(ref: ShadowCopyRef): Promise<void> {
    const dir = this.registry(ref.svm);
    for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (!e.endsWith(".json")) continue;
      const rec = JSON.parse(await fsp.readFile(path.join(dir, e), "utf8")) as ExposedRecord;
      if (rec.shadowCopyId === ref.shadowCopyId) await fsp.rm(path.join(dir, e), { force: true });
    }
    const clone = this.cloneDir(ref);
    await this.removeAttempts(clone);
    await this.guard.remove(`${clone}.manifest.json`);
    await this.guard.remove(clone);
    await fsp.rm(`${clone}.json`, { force: true });
  }

  private snapshotDir(ref: SnapshotRef): string {
    return path.join(this.volumeDir(ref.svm, ref.volume), SNAPSHOT_DIR, ref.name);
  }

  async createSnapshot(ref: SnapshotRef): Promise<SnapshotInfo> {
    this.svm(ref.svm);
    const vol = this.volumeDir(ref.svm, ref.volume);
    if (!(await exists(vol)))
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `volume "${ref.volume}" of SVM "${ref.svm}" has no directory ${vol}`,
        { ...ref },
      );
    const final = this.snapshotDir(ref);
    // As with copies: an attempt of its own, and the first to take the name wins; the winner seals.
    if (!(await exists(final))) {
      const tmp = attemptDir(final);
      await fsp.mkdir(tmp, { recursive: true });
      let won: boolean;
      try {
        await copyTree(vol, tmp, (rel) => rel === SNAPSHOT_DIR || path.basename(rel).startsWith(TMP));
        won = await renameUnlessTaken(tmp, final);
      } catch (err) {
        // As with copies: a twin that took the name first removes this attempt under its feet.
        if (!(await exists(final))) {
          await this.guard.remove(tmp);
          throw err;
        }
        won = false;
      }
      if (!won) {
        await this.guard.remove(tmp);
        return { ...ref, createdAt: (await fsp.stat(final)).mtimeMs };
      }
      await this.removeAttempts(final);
    }
    await this.guard.seal(final);
    return { ...ref, createdAt: (await fsp.stat(final)).mtimeMs };
  }

  async deleteSnapshot(ref: SnapshotRef): Promise<void> {
    const final = this.snapshotDir(ref);
    await this.removeAttempts(final);
    await this.guard.remove(final);
  }

  /**
   * Removes the unfinished attempts at making `final`: left by a crash, or by a twin still at work,
   * which then fails and is retried, finding `final` made.
   */
  private async removeAttempts(final: string): Promise<void> {
    const dir = path.dirname(final);
    const prefix = `${TMP}${path.basename(final)}`;
    for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (e === prefix || e.startsWith(`${prefix}.`)) await this.guard.remove(path.join(dir, e));
    }
  }

  async restore(req: RestoreJob): Promise<RestoredFileReport[]> {
    const snap = this.snapshotDir(req.snapshot);
    const clone = path.join(snap, SHADOW_DIR, req.shadowCopyId);
    const manifestFile = `${clone}.manifest.json`;
    if (!(await exists(manifestFile))) {
      throw new RvssError(
        ErrorCodes.SNAPSHOT_NOT_FOUND,
        `snapshot "${req.snapshot.name}" of volume "${req.snapshot.volume}" (SVM "${req.snapshot.svm}") holds no sealed shadow copy ${req.shadowCopyId}`,
        {
          svm: req.snapshot.svm,
          volume: req.snapshot.volume,
          snapshot: req.snapshot.name,
          shadowCopyId: req.shadowCopyId,
        },
      );
    }
    const manifest = JSON.parse(await fsp.readFile(manifestFile, "utf8")) as Manifest;
    const files = req.files.length > 0 ? req.files : Object.keys(manifest.files).sort();
    for (const f of files) {
      if (!manifest.files[f])
        throw new RvssError(
          ErrorCodes.FILE_NOT_FOUND,
          `file "${f}" is not in the backup (snapshot "${req.snapshot.name}")`,
          { file: f, snapshot: req.snapshot.name },
        );
    }
    const dest =
      req.target.kind === "directory"
        ? req.target.path
        : this.shareDir(await this.resolveShare(req.target.svm, req.target.share));
    if (!path.isAbsolute(dest))
      throw new RvssError(ErrorCodes.INVALID_ARGUMENT, `restore directory "${dest}" must be an absolute path`, {
        path: dest,
      });
    // Checked for every file before the first is written: a refused restore changes nothing.
    if (!req.overwrite) {
      const taken: string[] = [];
      for (const rel of files) {
        const target = path.join(dest, rel);
        if ((await exists(target)) && (await sha256File(target)).sha256 !== manifest.files[rel]!.sha256)
          taken.push(rel);
      }
      if (taken.length > 0)
        throw new RvssError(
          ErrorCodes.FILE_EXISTS,
          `${taken.length === 1 ? "a file exists" : `${taken.length} files exist`} in ${dest} with other contents: ${taken
            .slice(0, 10)
            .map((f) => `"${f}"`)
            .join(
              ", ",
            )}${taken.length > 10 ? ", …" : ""}; restore with overwrite (rvss restore --overwrite) to replace them`,
          { file: taken[0]!, path: dest },
        );
    }
    const out: RestoredFileReport[] = [];
    const bytesTotal = files.reduce((n, f) => n + manifest.files[f]!.bytes, 0);
    let bytesDone = 0;
    for (const rel of files) {
      const expected = manifest.files[rel]!;
      const target = path.join(dest, rel);
      await fsp.mkdir(path.dirname(target), { recursive: true });
      const tmp = path.join(path.dirname(target), `.${path.basename(target)}.rvss-restore-${process.pid}`);
      await fsp.rm(tmp, { force: true });
      const src = await openRegularInside(await fsp.realpath(clone), rel, {
        svm: req.snapshot.svm,
        share: manifest.share,
      });
      const copied = await copyOpened(src, tmp);
      await fsp.chmod(tmp, 0o644);
      const handle = await fsp.open(tmp, "r+");
      await handle.sync();
      await handle.close();
      const check = await sha256File(tmp);
      if (copied.sha256 !== expected.sha256 || check.sha256 !== expected.sha256) {
        await fsp.rm(tmp, { force: true });
        throw new RvssError(
          ErrorCodes.CHECKSUM_MISMATCH,
          `restored "${rel}" has sha256 ${check.sha256}, but the backup recorded ${expected.sha256}`,
          { file: rel, snapshot: req.snapshot.name },
        );
      }
      await fsp.rename(tmp, target);
      out.push({ path: rel, bytes: check.bytes, sha256: check.sha256 });
      bytesDone += check.bytes;
      req.onProgress?.({ bytes: bytesDone, files: out.length, bytesTotal, filesTotal: files.length });
    }
    return out;
  }

  async listSnapshots(svm: string): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const v of this.svm(svm).volumes) {
      const dir = path.join(this.volumeDir(svm, v.name), SNAPSHOT_DIR);
      for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
        if (e.startsWith(TMP)) continue;
        out.push({ svm, volume: v.name, name: e, createdAt: (await fsp.stat(path.join(dir, e))).mtimeMs });
      }
    }
    return out;
  }

  async listShadowCopies(svm: string): Promise<CopyInfo[]> {
    const out: CopyInfo[] = [];
    for (const v of this.svm(svm).volumes) {
      const dir = path.join(this.volumeDir(svm, v.name), SHADOW_DIR);
      for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
        if (!e.isDirectory()) continue;
        // An unfinished attempt is named .tmp-<id>.<attempt>.
        const id = e.name.startsWith(TMP) ? e.name.slice(TMP.length).split(".")[0]! : e.name;
        out.push({ svm, volume: v.name, shadowCopyId: id, clonePath: path.posix.join(SHADOW_DIR, e.name) });
      }
    }
    return out;
  }

  async listExposedShares(svm: string): Promise<ExposedShareInfo[]> {
    this.svm(svm);
    const dir = this.registry(svm);
    const out: ExposedShareInfo[] = [];
    for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (!e.endsWith(".json") || e.includes(".tmp-")) continue;
      const rec = JSON.parse(await fsp.readFile(path.join(dir, e), "utf8")) as ExposedRecord;
      out.push({ svm, name: rec.name, volume: rec.volume, shadowCopyId: rec.shadowCopyId });
    }
    return out;
  }
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fsp.readFile(file, "utf8")) as T;
  } catch {
    return null;
  }
}

/** The volume's own directories, skipped when a share is the volume root. */
function volumeDirs(share: Pick<ShareLocation, "sharePath">): string[] {
  return share.sharePath === "" ? [SHADOW_DIR, SNAPSHOT_DIR] : [];
}

/** Every regular file below a share root, as the walk finds them; anything else is refused (Remote VSS rule 1). */
async function* shareFiles(root: string, share: ShareLocation): AsyncGenerator<string> {
  for await (const batch of walkTree(root, { skipAtRoot: volumeDirs(share) })) {
    for (const e of batch) {
      if (e.kind === "file") yield e.path;
      else if (e.kind !== "directory") {
        throw new RvssError(ErrorCodes.FILE_NOT_REGULAR, notRegular(e, share)!.message, {
          svm: share.svm,
          share: share.share,
          file: e.path,
        });
      }
    }
  }
}

/** Every file below a directory, relative, sorted. */
async function listTree(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...(await listTree(dir, r)));
    else out.push(r);
  }
  return out.sort();
}

/** A point-in-time image of `src` in `dest`: files copied (reflinked where the filesystem can), links kept. */
async function copyTree(src: string, dest: string, skip: (rel: string) => boolean, rel = ""): Promise<void> {
  for (const e of await fsp.readdir(path.join(src, rel), { withFileTypes: true })) {
    const r = rel === "" ? e.name : path.join(rel, e.name);
    if (skip(r)) continue;
    const from = path.join(src, r);
    const to = path.join(dest, r);
    if (e.isDirectory()) {
      await fsp.mkdir(to);
      await copyTree(src, dest, skip, r);
    } else if (e.isSymbolicLink()) {
      await fsp.symlink(await fsp.readlink(from), to);
    } else if (e.isFile()) {
      await fsp.copyFile(from, to, fs.constants.COPYFILE_FICLONE);
    }
  }
}

/** A directory for one attempt at making `final`, beside it. */
function attemptDir(final: string): string {
  return path.join(path.dirname(final), `${TMP}${path.basename(final)}.${randomUUID().slice(0, 8)}`);
}

/** Renames a finished attempt into place; false when another attempt took the name first. */
async function renameUnlessTaken(from: string, to: string): Promise<boolean> {
  try {
    await fsp.rename(from, to);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") return false;
    throw err;
  }
}

/** The description of a copy that is complete under its final name, or null. */
async function madeCopy(final: string, info: string): Promise<ShadowCopyInfo | null> {
  if (!(await exists(final)) || !(await exists(info))) return null;
  const { clonePath, bytes, fileCount } = JSON.parse(await fsp.readFile(info, "utf8")) as ShadowCopyInfo;
  return { clonePath, bytes, fileCount };
}
