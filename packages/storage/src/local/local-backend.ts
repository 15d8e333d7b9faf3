/**
 * The `local` backend: real files and directories play the filer, so every copy, exposed share and
 * snapshot can be inspected and a restore checked byte for byte.
 *
 *   <root>/<svm>/<volume>/...                      volume content (shares point into it)
 *   <root>/<svm>/<volume>/.shadowcopy/<id>/        a shadow copy: the share's listed files
 *   <root>/<svm>/<volume>/.shadowcopy/<id>.json    its share, size and file count
 *   <root>/<svm>/<volume>/.shadowcopy/.deleted-<id>.<n>   a deleted copy whose files are being removed
 *   <root>/<svm>/<volume>/.snapshot/<name>/        a backup snapshot, read-only; holds .shadowcopy/<id>
 *   <root>/<svm>/<volume>/.snapshot/.verified/<name>.json   its checksums, computed after the backup
 *   <root>/<svm>/.shares/<share@{id}>.json         exposed shares (the SMB share table; with Samba,
 *                                                  also registry shares of that instance)
 *
 * How copies and snapshots are made depends on what the volume's filesystem can do (capabilities.ts):
 * reflinks and btrfs snapshots where it can, one kernel byte copy and a rename where it cannot.
 * Work happens in ".tmp-" entries that are renamed into place when complete, so a crash never
 * leaves a half-made copy or snapshot under its final name.
 */
import * as fsp from "node:fs/promises";
import * as fs from "node:fs";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import { ErrorCodes, RvssError, isRvssError, kindName, mapLimit, notRegular, type LayoutEntry } from "@rvss/core";
import type {
  CopyInfo,
  CreateShadowCopyRequest,
  ExposeRequest,
  ExposedShareInfo,
  FileProblem,
  ShareResolution,
  RestoreDestination,
  RestoreJob,
  RestoredFileReport,
  ShadowCopyInfo,
  ShadowCopyRef,
  ShareLocation,
  SnapshotInfo,
  SnapshotRef,
  SnapshotRequest,
  SnapshotVerification,
  StorageBackend,
} from "../backend";
import { btrfsDelete, btrfsSnapshot, detectCapabilities, isSubvolume, type LocalCapabilities } from "./capabilities";
import { loadFilerConfig, under, type FilerConfig, type SvmConfig } from "./filer-config";
import {
  HeldDir,
  ReadOnlyGuard,
  cloneRegularInsideSync,
  contentsAt,
  copyInto,
  copyOpened,
  directoryAttributesInsideSync,
  eachInSlices,
  exists,
  openRegularInside,
  setAttributes,
  sha256File,
  syncTree,
  writeFileAtomic,
  type Copied,
  type FileAttributes,
  type OpenedFile,
  type Refusal,
} from "./fs-safe";
import { Samba, checkShareName } from "./samba";
import { walkTree } from "./walk";

export const SHADOW_DIR = ".shadowcopy";
export const SNAPSHOT_DIR = ".snapshot";
const SHARES_DIR = ".shares";
const VERIFIED_DIR = ".verified";
const TMP = ".tmp-";
const DELETED = ".deleted-";

/** Verification reads at most this much per second, so it never starves backups of disk bandwidth. */
const VERIFY_BYTES_PER_SECOND = 256 * 1024 * 1024;
/** Files copied at once within one shadow copy. */
const COPY_PARALLEL = 8;

/** A copy's description, beside it (and in the snapshot that holds it). */
interface CopyDescription extends ShadowCopyInfo {
  share: string;
  /**
   * Each file's and directory's attributes in the share when it was cloned, by path below the share
   * root: the seal makes the copy read-only (a=rX), so a restore takes them from here. Absent in
   * copies made before rvss kept them.
   */
  attributes?: Record<string, FileAttributes>;
}

/** A restore's target directory, held open; `shown` names it in messages. */
interface RestoreInto {
  dir: HeldDir;
  refusal: Refusal;
  shown: string;
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
  private readonly found = new Map<string, Promise<LocalCapabilities>>();
  /** Removals of deleted copies under way, per copy directory; `again`: one more pass asked for. */
  private readonly removing = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

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

  /** What the volume can do, found once. */
  volumeCapabilities(svm: string, volume: string): Promise<LocalCapabilities> {
    const key = `${svm}/${volume}`;
    let caps = this.found.get(key);
    if (!caps) {
      const config = this.svm(svm).volumes.find((v) => v.name === volume);
      if (!config)
        throw new RvssError(ErrorCodes.STORAGE_FAILED, `volume "${volume}" is not defined on SVM "${svm}"`, {
          svm,
          volume,
        });
      caps = detectCapabilities(svm, volume, this.volumeDir(svm, volume), config.cow);
      caps.catch(() => this.found.delete(key));
      this.found.set(key, caps);
    }
    return caps;
  }

  async capabilities(): Promise<LocalCapabilities[]> {
    const out: LocalCapabilities[] = [];
    for (const svm of this.filer.svms)
      for (const v of svm.volumes) out.push(await this.volumeCapabilities(svm.name, v.name));
    return out;
  }

  private samba(svm: string): Samba | null {
    const config = this.svm(svm).samba?.config;
    return config ? new Samba(config) : null;
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

  /** Every volume directory must exist and be writable: a lost mount fails here, not in the next backup. */
  async probe(): Promise<void> {
    for (const svm of this.filer.svms) {
      for (const v of svm.volumes) {
        const dir = this.volumeDir(svm.name, v.name);
        await fsp.access(dir, fs.constants.W_OK).catch((err: NodeJS.ErrnoException) => {
          throw new RvssError(
            ErrorCodes.STORAGE_FAILED,
            `volume "${v.name}" of SVM "${svm.name}" cannot be written at ${dir}: ${err.code ?? err.message}`,
            { svm: svm.name, volume: v.name },
          );
        });
      }
    }
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

  /**
   * The share root's real path, which every file read from the share must lie under. It must be the
   * share's place in the volume: a directory on the way swapped for a symlink (by someone who can
   * write the share's parent) would otherwise make the link's target the root that files are checked
   * against, and files outside the filer would pass.
   */
  private async shareRoot(share: Pick<ShareLocation, "svm" | "share" | "volume" | "sharePath">): Promise<string> {
    const [volume, root] = await Promise.all([
      fsp.realpath(this.volumeDir(share.svm, share.volume)),
      fsp.realpath(this.shareDir(share)),
    ]);
    if (root !== path.join(volume, share.sharePath))
      throw new RvssError(
        ErrorCodes.PATH_ESCAPES_SHARE,
        `share "${share.share}" of SVM "${share.svm}" resolves to ${root}, not to its place in volume "${share.volume}" (a link on the way)`,
        { svm: share.svm, share: share.share, volume: share.volume },
      );
    return root;
  }

  async checkFiles(share: ShareResolution, files: string[]): Promise<FileProblem[]> {
    const root = await this.shareRoot(share);
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
   * Each file is a reflink where the volume can clone, else one kernel copy. Each attempt copies into
   * a directory of its own and writes the copy's description before the copy takes its final name,
   * so a copy under its final name is complete, and two runs of one request (a command delivered
   * twice) never write into or remove each other's work: the first to take the name wins and the
   * other uses its copy.
   */
  async createShadowCopy(req: CreateShadowCopyRequest): Promise<ShadowCopyInfo> {
    const ref = { svm: req.svm, volume: req.share.volume, shadowCopyId: req.shadowCopyId };
    const { reflink } = await this.volumeCapabilities(req.svm, req.share.volume);
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
      const root = await this.shareRoot(req.share);
      const files = req.files.length > 0 ? req.files : await shareFiles(root, req.share);
      const details = { svm: req.svm, share: req.share.share };
      const done = { bytes: 0, files: 0 };
      const attributes: Record<string, FileAttributes> = {};
      const copied = (rel: string, c: { size: number; attributes: FileAttributes }): void => {
        attributes[rel] = c.attributes;
        done.bytes += c.size;
        done.files++;
        req.onProgress?.({ ...done, bytesTotal: 0, filesTotal: files.length });
      };
      // Each directory once, parents first.
      const dirs = [...directoriesOf(files)].sort();
      await eachInSlices(dirs, (d) => fs.mkdirSync(path.join(tmp, d), { recursive: true }));
      if (reflink) {
        // A clone is metadata only: made directly, in slices (see eachInSlices).
        await eachInSlices(files, (rel) =>
          copied(rel, cloneRegularInsideSync(root, rel, path.join(tmp, rel), details)),
        );
      } else {
        // A byte copy takes long in the kernel (copy_file_range): on the thread pool, a few at once.
        await mapLimit(files, COPY_PARALLEL, async (rel) => {
          const src = await openRegularInside(root, rel, details);
          copied(rel, { size: await copyOpened(src, path.join(tmp, rel)), attributes: src.attributes });
        });
      }
      await eachInSlices(dirs, (d) => (attributes[d] = directoryAttributesInsideSync(root, d, details)));
      const bytes = done.bytes;
      result = { clonePath: path.posix.join(SHADOW_DIR, req.shadowCopyId), bytes, fileCount: files.length };
      const description: CopyDescription = { ...result, share: req.share.share, attributes };
      await writeFileAtomic(info, JSON.stringify(description));
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

  /**
   * The record is written first, so a crash before Samba has the share still leaves a record the
   * clean-up finds; a share Samba refuses takes its record away again.
   */
  async exposeShadowCopy(req: ExposeRequest): Promise<{ accessPath: string }> {
    // With or without Samba: the name is also the record's file name.
    checkShareName(req.exposedName);
    const accessPath = this.cloneDir(req);
    if (!(await exists(accessPath))) {
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `shadow copy ${req.shadowCopyId} does not exist on volume "${req.volume}"; cannot expose it as ${req.exposedName}`,
        { ...req },
      );
    }
    const samba = this.samba(req.svm);
    const dir = this.registry(req.svm);
    await fsp.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${req.exposedName}.json`);
    const known = await exists(file);
    if (!known) {
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
    if (samba) {
      try {
        await samba.addShare(
          req.exposedName,
          req.baseShare,
          accessPath,
          req.writable,
          `Shadow copy of ${req.baseShare} taken ${new Date().toUTCString()}`,
        );
      } catch (err) {
        if (!known) await fsp.rm(file, { force: true });
        throw err;
      }
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

  /**
   * Samba first: read-only for new connections and existing ones closed, because the on-disk seal
   * does not stop a descriptor opened before it. Then the copy is read-only on disk: no write bit,
   * for every user but root (whom the snapshot's immutable seal stops; see ReadOnlyGuard).
   */
  async sealShadowCopy(ref: ShadowCopyRef): Promise<void> {
    const dir = this.cloneDir(ref);
    if (!(await exists(dir)))
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `shadow copy ${ref.shadowCopyId} does not exist on volume "${ref.volume}"`,
        { ...ref },
      );
    const samba = this.samba(ref.svm);
    if (samba) for (const rec of await this.exposedRecords(ref)) await samba.makeReadOnly(rec.name);
    await this.guard.readOnly(dir);
  }

  private async exposedRecords(ref: ShadowCopyRef): Promise<(ExposedRecord & { file: string })[]> {
    const dir = this.registry(ref.svm);
    const out: (ExposedRecord & { file: string })[] = [];
    // An exposed name carries its copy's ID (share@{id}): only those records are read.
    const id = `@{${ref.shadowCopyId.toLowerCase()}}`;
    for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (!e.endsWith(".json") || e.includes(TMP) || !e.toLowerCase().includes(id)) continue;
      const rec = await readJson<ExposedRecord>(path.join(dir, e));
      if (rec?.shadowCopyId === ref.shadowCopyId) out.push({ ...rec, file: path.join(dir, e) });
    }
    return out;
  }

  /**
   * The exposed share goes first, then the copy: renamed aside at once, so nothing reaches it any
   * more, and its files are removed after the call returned. Removing them frees a byte copy's pages
   * (about 25 ms for 256 MiB on ext4) or a tree of clones entry by entry: work for the background,
   * as btrfs leaves a deleted subvolume to its cleaner and XFS inode inactivation to a worker. What
   * a stopped process left aside is removed at the next start (finishRemovals) or deletion.
   */
  async deleteShadowCopy(ref: ShadowCopyRef): Promise<void> {
    const samba = this.samba(ref.svm);
    for (const rec of await this.exposedRecords(ref)) {
      if (samba) await samba.deleteShare(rec.name);
      await fsp.rm(rec.file, { force: true });
    }
    const clone = this.cloneDir(ref);
    await this.removeAttempts(clone);
    const aside = path.join(path.dirname(clone), `${DELETED}${ref.shadowCopyId}.${randomUUID().slice(0, 8)}`);
    const moved = await fsp.rename(clone, aside).then(
      () => true,
      async (err: NodeJS.ErrnoException) => {
        // An immutable copy (sealed by an earlier rvss) cannot be renamed: it is removed now.
        if (err.code !== "ENOENT") await this.guard.remove(clone);
        return false;
      },
    );
    await fsp.rm(`${clone}.json`, { force: true });
    if (moved) this.removeDeleted(path.dirname(clone));
  }

  /**
   * Removes the deleted copies in a copy directory, one pass at a time per directory; a deletion
   * during a pass asks for another. Off the critical path, on the thread pool: unlinking a large
   * byte copy takes tens of milliseconds, which the event loop should not wait for. A failure
   * leaves the entry for the next pass.
   */
  private removeDeleted(dir: string): void {
    if (this.removing.has(dir)) {
      this.again.add(dir);
      return;
    }
    const pass = async (): Promise<void> => {
      do {
        this.again.delete(dir);
        for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
          if (!e.startsWith(DELETED)) continue;
          const aside = path.join(dir, e);
          await fsp
            .rm(aside, { recursive: true, force: true })
            .catch(() => this.guard.remove(aside))
            .catch(() => undefined);
        }
      } while (this.again.has(dir));
    };
    this.removing.set(
      dir,
      pass().finally(() => this.removing.delete(dir)),
    );
  }

  /** Removes what deletions left aside on every volume (a stopped process's too); resolves when none is left. */
  async finishRemovals(): Promise<void> {
    for (const svm of this.filer.svms)
      for (const v of svm.volumes) this.removeDeleted(path.join(this.volumeDir(svm.name, v.name), SHADOW_DIR));
    while (this.removing.size > 0) await Promise.all(this.removing.values());
  }

  /** Deleted copies of a volume whose files are not all removed yet (read from disk: any process's). */
  async deletedCopies(svm: string, volume: string): Promise<number> {
    const dir = path.join(this.volumeDir(svm, volume), SHADOW_DIR);
    return (await fsp.readdir(dir).catch(() => [] as string[])).filter((e) => e.startsWith(DELETED)).length;
  }

  private snapshotDir(ref: SnapshotRef): string {
    return path.join(this.volumeDir(ref.svm, ref.volume), SNAPSHOT_DIR, ref.name);
  }

  /**
   * btrfs: a read-only snapshot of the volume subvolume, taken while the sealed copies are in it.
   * Elsewhere the snapshot holds only the sealed copies: reflinked (metadata only), or on a volume
   * that cannot clone, moved in by rename, so no byte is copied twice. Then it is sealed and, unless
   * the filer says otherwise, flushed to disk (a btrfs snapshot is committed by btrfs itself).
   */
  async createSnapshot(req: SnapshotRequest): Promise<SnapshotInfo> {
    const ref = { svm: req.svm, volume: req.volume, name: req.name };
    this.svm(ref.svm);
    const vol = this.volumeDir(ref.svm, ref.volume);
    if (!(await exists(vol)))
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `volume "${ref.volume}" of SVM "${ref.svm}" has no directory ${vol}`,
        { ...ref },
      );
    const caps = await this.volumeCapabilities(ref.svm, ref.volume);
    const final = this.snapshotDir(ref);
    await this.refuseIrregularCopies(vol, req.shadowCopyIds ?? (await sealedCopies(path.join(vol, SHADOW_DIR))));
    if (caps.cow === "btrfs") {
      await this.btrfsSnapshot(vol, final);
    } else {
      // As with copies, the run that puts the snapshot in place seals it; a run finding it there seals
      // it again (a crash may have cut the seal short); a run beaten by its twin leaves it alone.
      if ((await exists(final)) || (await this.gatherSnapshot(req, caps, final))) {
        await this.guard.seal(final);
        if (this.filer.syncSnapshots) await syncTree(final);
      }
    }
    return { ...ref, createdAt: (await fsp.stat(final)).mtimeMs };
  }

  /**
   * A copy a snapshot takes holds only regular files and directories: the exposed copy was writable,
   * and a link or a FIFO put there (a writer's, or an attacker's with the exposed share) would be read
   * through, or block whatever opens it, once in the snapshot. The copies are sealed by now, so
   * nothing is added after the check. A copy already moved into the snapshot is not looked at again.
   */
  private async refuseIrregularCopies(vol: string, ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const dir = path.join(vol, SHADOW_DIR, id);
      if (!(await exists(dir))) continue;
      for await (const batch of walkTree(dir))
        for (const e of batch)
          if (e.kind !== "file" && e.kind !== "directory")
            throw new RvssError(
              ErrorCodes.FILE_NOT_REGULAR,
              `shadow copy ${id} holds "${e.path}", a ${kindName(e.kind)}; a snapshot takes only regular files and directories`,
              { shadowCopyId: id, file: e.path },
            );
    }
  }

  /** `btrfs subvolume snapshot` puts the snapshot inside a DEST that exists, so the name is checked first. */
  private async btrfsSnapshot(vol: string, final: string): Promise<void> {
    if (await exists(final)) return;
    await fsp.mkdir(path.dirname(final), { recursive: true });
    try {
      await btrfsSnapshot(vol, final);
    } catch (err) {
      // A twin took the name first: its snapshot is complete (btrfs makes it atomically).
      if (!(await isSubvolume(final))) throw err;
    }
  }

  /**
   * Places each sealed copy in one attempt directory per snapshot name, then renames it into place.
   * The attempt's name is fixed, so a run after a crash (or a twin) carries on with what is in it:
   * a copy moved in is never lost.
   */
  private async gatherSnapshot(req: SnapshotRequest, caps: LocalCapabilities, final: string): Promise<boolean> {
    const vol = this.volumeDir(req.svm, req.volume);
    const attempt = path.join(path.dirname(final), `${TMP}${req.name}`);
    const into = path.join(attempt, SHADOW_DIR);
    await fsp.mkdir(into, { recursive: true });
    const ids = req.shadowCopyIds ?? (await sealedCopies(path.join(vol, SHADOW_DIR)));
    for (const id of ids) {
      const dest = path.join(into, id);
      if (await exists(dest)) continue;
      const src = path.join(vol, SHADOW_DIR, id);
      if (!(await exists(src))) {
        // A twin finished the snapshot meanwhile; this attempt was made after its rename.
        if (await exists(final)) {
          await this.removeEmptyAttempt(attempt);
          return false;
        }
        throw new RvssError(
          ErrorCodes.STORAGE_FAILED,
          `shadow copy ${id} is not on volume "${req.volume}" of SVM "${req.svm}"; snapshot "${req.name}" cannot hold it`,
          { svm: req.svm, volume: req.volume, snapshot: req.name, shadowCopyId: id },
        );
      }
      await fsp.copyFile(`${src}.json`, `${dest}.json`);
      if (caps.cow === "reflink") {
        const tmp = attemptDir(dest);
        await fsp.cp(src, tmp, { recursive: true, mode: fs.constants.COPYFILE_FICLONE_FORCE, errorOnExist: true });
        if (!(await renameUnlessTaken(tmp, dest))) await this.guard.remove(tmp);
      } else {
        try {
          await this.guard.unsealTop(src);
          await fsp.rename(src, dest);
        } catch (err) {
          // A twin moved it first.
          if (!(await exists(dest)) && !(await exists(final))) throw err;
        }
      }
    }
    const won = await renameUnlessTaken(attempt, final).catch(async (err: unknown) => {
      if (await exists(final)) return false;
      throw err;
    });
    if (!won) await this.removeEmptyAttempt(attempt);
    return won;
  }

  /** An attempt beaten by its twin is removed unless it still holds a copy (then the snapshot's delete removes it). */
  private async removeEmptyAttempt(attempt: string): Promise<void> {
    const held = await fsp.readdir(path.join(attempt, SHADOW_DIR)).catch(() => [] as string[]);
    if (held.every((e) => e.endsWith(".json"))) await this.guard.remove(attempt);
  }

  async deleteSnapshot(ref: SnapshotRef): Promise<void> {
    const final = this.snapshotDir(ref);
    await this.removeAttempts(final);
    await this.removeSnapshotDir(final);
    await this.guard.remove(this.verificationFile(ref));
  }

  private async removeSnapshotDir(dir: string): Promise<void> {
    if (await isSubvolume(dir)) await btrfsDelete(dir);
    else await this.guard.remove(dir);
  }

  private verificationFile(ref: SnapshotRef): string {
    return path.join(this.volumeDir(ref.svm, ref.volume), SNAPSHOT_DIR, VERIFIED_DIR, `${ref.name}.json`);
  }

  async snapshotVerification(ref: SnapshotRef): Promise<SnapshotVerification | null> {
    return readJson<SnapshotVerification>(this.verificationFile(ref));
  }

  /** Reads every file of the snapshot's copies once, throttled; the result is sealed beside the snapshot. */
  async verifySnapshot(ref: SnapshotRef): Promise<SnapshotVerification> {
    const done = await this.snapshotVerification(ref);
    if (done) return done;
    const copies = path.join(this.snapshotDir(ref), SHADOW_DIR);
    if (!(await exists(this.snapshotDir(ref))))
      throw new RvssError(
        ErrorCodes.SNAPSHOT_NOT_FOUND,
        `snapshot "${ref.name}" of volume "${ref.volume}" (SVM "${ref.svm}") does not exist`,
        { ...ref, snapshot: ref.name },
      );
    const out: SnapshotVerification = { ...ref, verifiedAt: 0, shadowCopies: {} };
    for (const e of await fsp.readdir(copies, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
      if (!e.isDirectory() || e.name.startsWith(".")) continue;
      const share = (await readJson<CopyDescription>(path.join(copies, `${e.name}.json`)))?.share ?? "";
      const files: Record<string, { bytes: number; sha256: string }> = {};
      for (const rel of await listTree(path.join(copies, e.name)))
        files[rel] = await sha256File(path.join(copies, e.name, rel), VERIFY_BYTES_PER_SECOND).catch((err: Error) => {
          throw new RvssError(
            isRvssError(err) ? err.code : ErrorCodes.STORAGE_FAILED,
            `snapshot "${ref.name}" of volume "${ref.volume}" (SVM "${ref.svm}"): cannot read "${rel}" of shadow copy ${e.name}: ${err.message}`,
            { ...ref, snapshot: ref.name, shadowCopyId: e.name, file: rel },
          );
        });
      out.shadowCopies[e.name] = { share, files };
    }
    out.verifiedAt = Date.now();
    const file = this.verificationFile(ref);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(out));
    await this.guard.seal(file);
    return out;
  }

  /**
   * Removes the unfinished attempts at making `final`: left by a crash, or by a twin still at work,
   * which then fails and is retried, finding `final` made.
   */
  private async removeAttempts(final: string): Promise<void> {
    const dir = path.dirname(final);
    const prefix = `${TMP}${path.basename(final)}`;
    for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (e === prefix || e.startsWith(`${prefix}.`)) await this.removeSnapshotDir(path.join(dir, e));
    }
  }

  /**
   * Each file is a reflink where the target's filesystem can clone, else one kernel copy, checked
   * against the backup and given the attributes it had in the share before it takes its name. Every
   * directory on the way is opened from the share root (or the restore root) a component at a time,
   * never through a link, and each file is made through its directory's descriptor, so a directory
   * swapped for a link cannot carry the restore anywhere else. Without overwrite a file takes its name
   * by link(2), which never replaces a file that appeared after the check.
   */
  async restore(req: RestoreJob): Promise<RestoredFileReport[]> {
    const snap = this.snapshotDir(req.snapshot);
    const clone = path.join(snap, SHADOW_DIR, req.shadowCopyId);
    const description = await readJson<CopyDescription>(`${clone}.json`);
    if (!description || !(await exists(clone))) {
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
    const cloneReal = await fsp.realpath(clone);
    // Not verified yet: each file is compared with the snapshot's own file instead.
    const verified = (await this.snapshotVerification(req.snapshot))?.shadowCopies[req.shadowCopyId]?.files ?? null;
    const held = new Set(verified ? Object.keys(verified) : await listTree(clone));
    const files = req.files.length > 0 ? req.files : [...held].sort();
    for (const f of files) {
      if (!held.has(f))
        throw new RvssError(
          ErrorCodes.FILE_NOT_FOUND,
          `file "${f}" is not in the backup (snapshot "${req.snapshot.name}")`,
          { file: f, snapshot: req.snapshot.name },
        );
    }
    const expected = async (rel: string): Promise<string> =>
      verified?.[rel]?.sha256 ?? (await sha256File(path.join(cloneReal, rel))).sha256;
    const into = await this.restoreTarget(req.target);
    try {
      // Checked for every file before the first is written: a refused restore changes nothing. A file
      // there already with the backup's contents is left as it is.
      const same = new Map<string, RestoredFileReport>();
      if (!req.overwrite) {
        const taken: string[] = [];
        for (const rel of files) {
          const parent = await into.dir.below(parentOf(rel), into.refusal);
          const there = parent && (await contentsAt(parent, path.posix.basename(rel)).finally(() => parent.close()));
          if (!there) continue;
          if (there !== "other" && there.sha256 === (await expected(rel))) same.set(rel, { path: rel, ...there });
          else taken.push(rel);
        }
        if (taken.length > 0) throw fileExists(taken, into.shown);
      }
      const out: RestoredFileReport[] = [];
      let bytesTotal = 0;
      for (const rel of files) bytesTotal += verified?.[rel]?.bytes ?? (await fsp.stat(path.join(cloneReal, rel))).size;
      let bytesDone = 0;
      const made: string[] = [];
      const source = { svm: req.snapshot.svm, share: description.share };
      for (const rel of files) {
        const report =
          same.get(rel) ??
          (await this.restoreFile(into, rel, made, {
            open: () => openRegularInside(cloneReal, rel, source),
            expected: () => expected(rel),
            attributes: description.attributes?.[rel],
            overwrite: req.overwrite,
            snapshot: req.snapshot.name,
          }));
        out.push(report);
        bytesDone += report.bytes;
        req.onProgress?.({ bytes: bytesDone, files: out.length, bytesTotal, filesTotal: files.length });
      }
      // Directories last, deepest first: their files changed their times, and a read-only one would
      // have refused them.
      for (const d of made.sort((a, b) => b.split("/").length - a.split("/").length)) {
        const attributes = description.attributes?.[d];
        const dir = attributes && (await into.dir.below(d, into.refusal));
        if (dir) await dir.setAttributes(attributes!).finally(() => dir.close());
      }
      return out;
    } finally {
      await into.dir.close();
    }
  }

  /** Where a restore writes, held open, and how a link met on the way is refused. */
  private async restoreTarget(t: RestoreDestination): Promise<RestoreInto> {
    if (t.kind === "share") {
      const share = await this.resolveShare(t.svm, t.share);
      const refusal: Refusal = {
        code: ErrorCodes.PATH_ESCAPES_SHARE,
        into: `restore into share "${share.share}" of SVM "${share.svm}"`,
        details: { svm: share.svm, share: share.share },
      };
      // The volume directory is the filer's; from there on no link is followed.
      const volume = await HeldDir.open(this.volumeDir(share.svm, share.volume));
      const dir = await volume
        .below(share.sharePath, { ...refusal, base: this.volumeDir(share.svm, share.volume) })
        .finally(() => volume.close());
      if (!dir)
        throw new RvssError(
          ErrorCodes.STORAGE_FAILED,
          `${refusal.into}: its directory ${this.shareDir(share)} is gone`,
          refusal.details,
        );
      return { dir, refusal, shown: `share "${share.share}"` };
    }
    const rel = path.relative(t.root, t.path);
    if (!path.isAbsolute(t.path) || !path.isAbsolute(t.root) || rel === ".." || rel.startsWith("../"))
      throw new RvssError(
        ErrorCodes.PERMISSION_DENIED,
        `restore directory "${t.path}" must be an absolute path under its restore root "${t.root}"`,
        { path: t.path },
      );
    const refusal: Refusal = {
      code: ErrorCodes.PERMISSION_DENIED,
      into: `restore into ${t.path}`,
      details: { path: t.path },
    };
    // The restore root is the operator's (RVSS_RESTORE_ROOTS); below it no link is followed.
    await fsp.mkdir(t.root, { recursive: true });
    const root = await HeldDir.open(t.root);
    const dir = await root.below(rel, { ...refusal, base: t.root }, []).finally(() => root.close());
    return { dir: dir!, refusal: { ...refusal, base: t.path }, shown: t.path };
  }

  /** One file, through its directory's descriptor: made aside, verified, given its attributes, then named. */
  private async restoreFile(
    into: RestoreInto,
    rel: string,
    made: string[],
    from: {
      open: () => Promise<OpenedFile>;
      expected: () => Promise<string>;
      attributes: FileAttributes | undefined;
      overwrite: boolean;
      snapshot: string;
    },
  ): Promise<RestoredFileReport> {
    const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
    // `made` is given, so a missing directory is made, never null.
    const parent = (await into.dir.below(parentOf(rel), into.refusal, made))!;
    const name = path.posix.basename(rel);
    const aside = `.${name}.rvss-restore-${process.pid}`;
    try {
      await unlinkIfThere(parent.at(aside));
      const tmp = await fsp.open(parent.at(aside), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      let check: Copied;
      try {
        const src = await from.open();
        // A copy made before rvss kept attributes: the snapshot's mode, writable by its owner again.
        const attributes = from.attributes ?? { ...src.attributes, mode: src.attributes.mode | 0o200 };
        await copyInto(src, tmp);
        check = await sha256File(tmp);
        const want = await from.expected();
        if (check.sha256 !== want)
          throw new RvssError(
            ErrorCodes.CHECKSUM_MISMATCH,
            `restored "${rel}" has sha256 ${check.sha256}, but the backup holds ${want}`,
            { file: rel, snapshot: from.snapshot },
          );
        await setAttributes(tmp, attributes);
        await tmp.sync();
      } finally {
        await tmp.close();
      }
      if (from.overwrite) await fsp.rename(parent.at(aside), parent.at(name));
      else {
        await fsp.link(parent.at(aside), parent.at(name)).catch((err: NodeJS.ErrnoException) => {
          throw err.code === "EEXIST" ? fileExists([rel], into.shown) : err;
        });
        await fsp.unlink(parent.at(aside));
      }
      return { path: rel, ...check };
    } catch (err) {
      await unlinkIfThere(parent.at(aside)).catch(() => undefined);
      if (isRvssError(err)) throw err;
      // Something on the way was taken away meanwhile (the directory, the file made aside).
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `${into.refusal.into}: cannot restore "${rel}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { ...into.refusal.details, file: rel },
      );
    } finally {
      await parent.close();
    }
  }

  async listSnapshots(svm: string): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const v of this.svm(svm).volumes) {
      const dir = path.join(this.volumeDir(svm, v.name), SNAPSHOT_DIR);
      for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
        // Attempts (.tmp-) and the verifications (.verified) are not snapshots.
        if (e.startsWith(".")) continue;
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
        // A deleted copy is no copy: its removal is under way (finishRemovals).
        if (!e.isDirectory() || e.name.startsWith(DELETED)) continue;
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

/** Every regular file below a share root; anything else is refused (Remote VSS rule 1). */
async function shareFiles(root: string, share: ShareLocation): Promise<string[]> {
  const files: string[] = [];
  for await (const batch of walkTree(root, { skipAtRoot: volumeDirs(share) })) {
    for (const e of batch) {
      if (e.kind === "file") files.push(e.path);
      else if (e.kind !== "directory") {
        throw new RvssError(ErrorCodes.FILE_NOT_REGULAR, notRegular(e, share)!.message, {
          svm: share.svm,
          share: share.share,
          file: e.path,
        });
      }
    }
  }
  return files;
}

/** Every directory the files lie in, below the share root, each once. */
function directoriesOf(files: string[]): Set<string> {
  const out = new Set<string>();
  for (const f of files) for (let d = parentOf(f); d !== "" && !out.has(d); d = parentOf(d)) out.add(d);
  return out;
}

/** The directory `rel` lies in, "" for the top. */
function parentOf(rel: string): string {
  const d = path.posix.dirname(rel);
  return d === "." ? "" : d;
}

function fileExists(taken: string[], where: string): RvssError {
  return new RvssError(
    ErrorCodes.FILE_EXISTS,
    `${taken.length === 1 ? "a file exists" : `${taken.length} files exist`} in ${where} with other contents: ${taken
      .slice(0, 10)
      .map((f) => `"${f}"`)
      .join(", ")}${taken.length > 10 ? ", …" : ""}; restore with overwrite (rvss restore --overwrite) to replace them`,
    { file: taken[0]!, path: where },
  );
}

async function unlinkIfThere(p: string): Promise<void> {
  await fsp.unlink(p).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
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

/** The complete copies in a volume's copy directory that are sealed (read-only). */
async function sealedCopies(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
    if (!e.isDirectory() || e.name.startsWith(TMP) || !(await exists(path.join(dir, `${e.name}.json`)))) continue;
    // A twin taking the same snapshot may have moved it in meanwhile.
    const st = await fsp.stat(path.join(dir, e.name)).catch(() => null);
    if (st && (st.mode & 0o222) === 0) out.push(e.name);
  }
  return out;
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
