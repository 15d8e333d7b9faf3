/**
 * The `ontap` backend: every storage operation as calls on ONTAP's REST API.
 *
 *   <volume>/.rvss/<id>/...        a shadow copy: file clones of the share's listed files
 *   <volume>/.rvss/<id>.done       an empty directory made once every clone was read back
 *   share@{id}                     the exposed copy: a CIFS share on .rvss/<id> with the base share's ACLs
 *   snapshot rvss_<backup>_<set>_<time>, comment "rvss <name>": one per volume, the backup
 *
 * A copy is complete only with its .done directory, so a half-made copy (a crash, a clone ONTAP
 * accepted and never made) is never taken for a made one: a later run finishes it, a removal or the
 * reconciler takes it away. Every create reads what is there (first, or after a write that failed),
 * so a command delivered twice makes each clone, share and snapshot once. The snapshot holds the sealed copy; its listing is
 * the copy's manifest (sizes: ONTAP computes no checksums, and reading every byte over REST is not
 * an option for VM disks), and a restore clones out of .snapshot/<name>/.rvss/<id>/ into the share.
 *
 * The calls are few: collections are asked by the SVM's name with the fields read, what a set's
 * shares look up in the same tick goes out as one query (`a|b|c`), a volume's files are read one
 * listing per directory, and jobs held by return_timeout are not polled (README: ONTAP backend).
 */
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ErrorCodes,
  RvssError,
  exposedShareName,
  formatUnc,
  mapLimit,
  notRegular,
  type EntryKind,
  type LayoutEntry,
} from "@rvss/core";
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
  SnapshotInfo,
  SnapshotRef,
  StorageBackend,
} from "../backend";
import type DataLoader from "dataloader";
import { alternatives, batchable, recordLoader } from "./batch";
import { OntapClient, filesPath, type CallContext } from "./client";
import type { OntapConfig, OntapSvmConfig } from "./config";

const COPY_DIR = ".rvss";
const DONE = ".done";
/** ONTAP's share names hold 80 characters (the REST model; MS-FSCC says the same). */
const MAX_SHARE_NAME = 80;
/** ONTAP takes snapshot names of up to 255 characters; rvss keeps to characters every interface accepts. */
const SNAPSHOT_NAME = /^[A-Za-z0-9_.-]{1,255}$/;
const EXPOSED = /@\{([0-9a-fA-F-]{36})\}\$?$/;
/** Calls of one operation at a time per share: the cluster client limits the total in flight. */
const PARALLEL = 8;
/** How long an SVM's volumes and CIFS options, once read, serve further resolutions. */
const RECENT_MS = 5000;
/** How long the open-files lookups of a set's shares are gathered before they go out as one query. */
const OPEN_FILES_WINDOW_MS = 3;

interface OntapSvm {
  uuid: string;
  name: string;
}

interface OntapVolume {
  uuid: string;
  name: string;
  nas?: { path?: string };
  style?: string;
}

interface OntapShare {
  name: string;
  path: string;
  svm?: { uuid?: string; name?: string };
  volume?: { name?: string; uuid?: string };
  acls?: Acl[];
}

interface Acl {
  user_or_group: string;
  type: string;
  permission: string;
}

interface OntapFile {
  name?: string;
  path?: string;
  type?: string;
  size?: number;
  is_junction?: boolean;
}

interface OpenFile {
  node?: { uuid?: string };
  svm?: { uuid?: string };
  session?: { identifier?: number };
  connection?: { identifier?: number };
  share?: { name?: string };
}

interface OntapSnapshot {
  name: string;
  uuid: string;
  create_time?: string;
  comment?: string;
}

interface CifsService {
  name?: string;
  svm?: { uuid?: string };
  options?: { shadowcopy?: boolean; shadowcopy_dir_depth?: number };
}

const join = (...parts: string[]): string => path.posix.join(...parts.filter((p) => p !== ""));
const under = (p: string, base: string): boolean =>
  base === "/" || p.toLowerCase() === base.toLowerCase() || p.toLowerCase().startsWith(base.toLowerCase() + "/");
const readOnly = (permission: string): string => (permission === "no_access" ? "no_access" : "read");

const isUuid = (s: string): boolean => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/**
 * Reads until `done` holds, for up to about 4 s: the work of a job ONTAP no longer knows (its UUID
 * answers 404) may still be under way. Returns the last read.
 */
async function readUntil<T>(read: () => Promise<T>, done: (r: T) => boolean): Promise<T> {
  let r = await read();
  for (let wait = 250; !done(r) && wait < 4000; wait *= 2) {
    await sleep(wait);
    r = await read();
  }
  return r;
}

/** ONTAP's file types (file, directory, symlink, fifo, socket, block_device, char_device, lun, stream) as layout kinds. */
function kindOf(r: OntapFile): EntryKind {
  switch (r.type) {
    case "directory":
      return r.is_junction ? "junction" : "directory";
    case "file":
    case "symlink":
    case "fifo":
    case "socket":
      return r.type;
    case "block_device":
    case "char_device":
      return "device";
    default:
      return "other";
  }
}

export class OntapBackend implements StorageBackend {
  readonly kind = "ontap";
  private readonly clients = new Map<string, OntapClient>();
  private readonly svms = new Map<string, OntapSvmConfig>();
  private readonly volumes = new Map<string, Promise<OntapVolume>>();
  private readonly cifsServers = new Map<string, Promise<CifsService>>();
  /** Volumes whose .rvss directory is made (or being made). */
  private readonly copyRoots = new Map<string, Promise<void>>();
  private readonly recent = new Map<string, { at: number; value: Promise<unknown> }>();
  private readonly loaders = new Map<string, DataLoader<string, unknown[]>>();

  constructor(
    config: OntapConfig,
    private readonly source = "the filer description",
  ) {
    for (const c of config.clusters) this.clients.set(c.name, new OntapClient(c));
    for (const s of config.svms) this.svms.set(s.name, s);
  }

  /** Closes the connections to every cluster. */
  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }

  private conf(svm: string): OntapSvmConfig {
    const s = this.svms.get(svm);
    if (!s)
      throw new RvssError(
        ErrorCodes.SVM_NOT_FOUND,
        `SVM "${svm}" is not an ONTAP SVM of ${this.source} (known: ${[...this.svms.keys()].join(", ") || "none"})`,
        { svm },
      );
    return s;
  }

  private client(svm: string): OntapClient {
    return this.clients.get(this.conf(svm).cluster)!;
  }

  private ctx(svm: string, what: string, details: Omit<CallContext, "what" | "svm"> = {}): CallContext {
    return { what, svm, ...details };
  }

  /**
   * The SVM as a query names it: collections take `svm.name` (or `svm.uuid`), so no call looks the
   * SVM up first; a path that needs its UUID takes it from the record it acts on.
   */
  private svmQuery(svm: string): Record<string, string> {
    const conf = this.conf(svm);
    return isUuid(conf.svm) ? { "svm.uuid": conf.svm } : { "svm.name": conf.svm };
  }

  private svmRef(svm: string): { uuid: string } | { name: string } {
    const conf = this.conf(svm);
    return isUuid(conf.svm) ? { uuid: conf.svm } : { name: conf.svm };
  }

  /**
   * Fails with SVM_NOT_FOUND when the cluster has no such SVM: asked only when a query by the SVM
   * found nothing, to tell an unknown SVM from an unknown share or a missing CIFS server.
   */
  private async svmExists(svm: string): Promise<void> {
    const conf = this.conf(svm);
    const r = await this.client(svm).records<OntapSvm>(
      "/svm/svms",
      { [isUuid(conf.svm) ? "uuid" : "name"]: conf.svm, fields: "uuid,name" },
      this.ctx(svm, `looking up SVM "${conf.svm}"`),
    );
    if (r.length === 0)
      throw new RvssError(
        ErrorCodes.SVM_NOT_FOUND,
        `SVM "${conf.svm}" does not exist on ONTAP cluster "${conf.cluster}" (SVM "${svm}" of ${this.source})`,
        { svm, cluster: conf.cluster },
      );
  }

  /**
   * The loader named `key` (a kind of lookup on one SVM or volume), which gathers a tick's lookups
   * into one query (see batch.ts); `query` answers the records of a batch of keys.
   */
  private loader<R>(
    key: string,
    query: (keys: readonly string[]) => Promise<R[]>,
    keysOf: (r: R) => string[],
    windowMs = 0,
  ): DataLoader<string, R[]> {
    let l = this.loaders.get(key) as DataLoader<string, R[]> | undefined;
    if (!l) {
      l = recordLoader(query, keysOf, windowMs);
      this.loaders.set(key, l as DataLoader<string, unknown[]>);
    }
    return l;
  }

  /** The volume `name` of the SVM (cached: its UUID changes only if it is made anew, see withVolume). */
  private volume(svm: string, name: string): Promise<OntapVolume> {
    const key = `${svm}/${name}`;
    let p = this.volumes.get(key);
    if (!p) {
      p = this.svmVolumes(svm, this.ctx(svm, `looking up volume "${name}"`, { volume: name })).then(async (all) => {
        const v = all.find((x) => x.name === name);
        if (v) return v;
        await this.svmExists(svm);
        throw new RvssError(
          ErrorCodes.STORAGE_FAILED,
          `volume "${name}" does not exist on SVM "${svm}" (cluster "${this.conf(svm).cluster}")`,
          { svm, volume: name, cluster: this.conf(svm).cluster },
        );
      });
      p.catch(() => this.volumes.delete(key));
      this.volumes.set(key, p);
    }
    return p;
  }

  /**
   * Runs `op` on the volume; when ONTAP answers that the volume's UUID is unknown (918235: it was
   * made anew, or moved to another SVM), forgets what was read about the SVM's volumes and runs it once more.
   */
  private async withVolume<T>(svm: string, name: string, op: (vol: OntapVolume) => Promise<T>): Promise<T> {
    try {
      return await op(await this.volume(svm, name));
    } catch (err) {
      if (!(err instanceof RvssError) || err.details["ontapCode"] !== "918235") throw err;
      this.volumes.delete(`${svm}/${name}`);
      this.recent.delete(`volumes/${svm}`);
      return op(await this.volume(svm, name));
    }
  }

  /** The SVM's CIFS server: its name, its options and the SVM's UUID. */
  private async cifs(svm: string): Promise<CifsService> {
    const r = await this.client(svm).records<CifsService>(
      "/protocols/cifs/services",
      { ...this.svmQuery(svm), fields: "name,svm.uuid,options.shadowcopy,options.shadowcopy_dir_depth" },
      this.ctx(svm, "reading the CIFS server's options"),
    );
    if (r.length === 0) {
      await this.svmExists(svm);
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `SVM "${svm}" (cluster "${this.conf(svm).cluster}") has no CIFS server; Remote VSS needs one`,
        { svm, cluster: this.conf(svm).cluster },
      );
    }
    return r[0]!;
  }

  /**
   * What ONTAP answered for `key` in the last few seconds: the shares of one set resolve together
   * and need the same SVM-wide facts (its volumes, its CIFS options) once.
   */
  private fresh<T>(key: string, read: () => Promise<T>): Promise<T> {
    const hit = this.recent.get(key);
    if (hit && Date.now() - hit.at < RECENT_MS) return hit.value as Promise<T>;
    const value = read();
    value.catch(() => this.recent.delete(key));
    this.recent.set(key, { at: Date.now(), value });
    return value;
  }

  /** The CIFS server's name (cached: it changes only with the server), for UNC paths. */
  private cifsServer(svm: string): Promise<CifsService> {
    let p = this.cifsServers.get(svm);
    if (!p) {
      p = this.fresh(`cifs/${svm}`, () => this.cifs(svm));
      p.catch(() => this.cifsServers.delete(svm));
      this.cifsServers.set(svm, p);
    }
    return p;
  }

  /** A file's or directory's own metadata (not a listing), or null when it does not exist. */
  private async meta(svm: string, vol: OntapVolume, rel: string, what: string): Promise<OntapFile | null> {
    const b = await this.client(svm).get(
      filesPath(vol.uuid, rel),
      { return_metadata: true, fields: "type,size,is_junction" },
      this.ctx(svm, what, { volume: vol.name, path: rel }),
    );
    const rec = (b?.["records"] as OntapFile[] | undefined)?.[0];
    return rec ?? null;
  }

  /** The entries of a directory (without "." and ".."); empty when it does not exist. */
  private async list(
    svm: string,
    vol: OntapVolume,
    rel: string,
    what: string,
    query: Record<string, string> = { fields: "name,type,size,is_junction" },
  ): Promise<OntapFile[]> {
    const p = rel === "" ? `/storage/volumes/${vol.uuid}/files` : filesPath(vol.uuid, rel);
    const r = await this.client(svm).records<OntapFile>(p, query, this.ctx(svm, what, { volume: vol.name, path: rel }));
    return r.filter((e) => e.name !== "." && e.name !== ".." && e.name !== undefined);
  }

  /**
   * The metadata of each of `paths` (null: not there), one listing per directory that asks for
   * their names (`name=a|b`); a name ONTAP's query syntax cannot hold is read on its own.
   */
  private async statMany(
    svm: string,
    vol: OntapVolume,
    paths: readonly string[],
    what: string,
  ): Promise<Map<string, OntapFile | null>> {
    const out = new Map<string, OntapFile | null>();
    const byDir = new Map<string, string[]>();
    const alone: string[] = [];
    for (const p of new Set(paths)) {
      const base = path.posix.basename(p);
      if (!batchable(base) || base === "." || base === "..") alone.push(p);
      else byDir.set(path.posix.dirname(p), [...(byDir.get(path.posix.dirname(p)) ?? []), base]);
    }
    const groups = [...byDir].flatMap(([dir, names]) =>
      Array.from({ length: Math.ceil(names.length / 32) }, (_, i) => [dir, names.slice(i * 32, i * 32 + 32)] as const),
    );
    await Promise.all([
      mapLimit(groups, PARALLEL, async ([dir, names]) => {
        const rel = dir === "." ? "" : dir;
        const found = await this.list(svm, vol, rel, what, {
          name: alternatives(names),
          fields: "name,type,size,is_junction",
        });
        for (const n of names) {
          // A volume may match names without regard to case: the name itself first.
          const same = found.filter((f) => f.name === n);
          const like = found.filter((f) => f.name!.toLowerCase() === n.toLowerCase());
          out.set(join(rel, n), same[0] ?? (like.length === 1 ? like[0]! : null));
        }
      }),
      mapLimit(alone, PARALLEL, async (p) => out.set(p, await this.meta(svm, vol, p, what))),
    ]);
    return out;
  }

  async listSvms(): Promise<string[]> {
    return [...this.svms.keys()];
  }

  /** rvss's name, ONTAP's, its CIFS server's (NetBIOS) name and the configured aliases. */
  async svmNames(svm: string): Promise<string[] | null> {
    const conf = this.svms.get(svm);
    if (!conf) return null;
    // The CIFS server's name is what Hyper-V hosts put in UNC paths; an unreachable cluster shows in the share checks.
    const server = (await this.cifsServer(svm).catch(() => null))?.name;
    const names = [svm, ...(isUuid(conf.svm) ? [] : [conf.svm]), ...(server ? [server] : []), ...conf.aliases];
    return names.filter((n, i) => names.findIndex((m) => m.toLowerCase() === n.toLowerCase()) === i);
  }

  /** The SVM's shares named `name` (ONTAP compares share names without regard to case), asked together with a tick's others. */
  private sharesNamed(svm: string, name: string, fields: string): Promise<OntapShare[]> {
    if (!batchable(name)) return this.shares(svm, name, fields);
    return this.loader<OntapShare>(
      `shares/${svm}/${fields}`,
      (names) => this.shares(svm, alternatives(names), fields),
      (r) => [r.name.toLowerCase()],
    ).load(name);
  }

  async resolveShare(svm: string, share: string): Promise<ShareResolution> {
    const client = this.client(svm);
    const cluster = this.conf(svm).cluster;
    const ctx = this.ctx(svm, `resolving share "${share}"`, { share });
    // The SVM-wide reads go out with the share's own, which goes out with the other shares' of the set.
    const volumesRead = this.svmVolumes(svm, ctx);
    const cifsRead = this.fresh(`cifs/${svm}`, () => this.cifs(svm));
    volumesRead.catch(() => undefined);
    cifsRead.catch(() => undefined);
    const [found] = await this.sharesNamed(svm, share, "name,path,volume.name,volume.uuid");
    if (!found) {
      await this.svmExists(svm);
      // One page of names is enough for the message.
      const page = await client.get(
        "/protocols/cifs/shares",
        { ...this.svmQuery(svm), name: "!*@{*", fields: "name", max_records: 20 },
        ctx,
      );
      const known = ((page?.["records"] as OntapShare[] | undefined) ?? []).map((r) => r.name);
      throw new RvssError(
        ErrorCodes.SHARE_NOT_FOUND,
        `share "${share}" does not exist on SVM "${svm}" (cluster "${cluster}"; known: ${known.join(", ") || "none"})`,
        { svm, share, cluster },
      );
    }
    const budget = exposedShareName(found.name, "00000000-0000-0000-0000-000000000000").length;
    if (budget > MAX_SHARE_NAME)
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `share "${found.name}" of SVM "${svm}" (cluster "${cluster}") is too long to expose copies of: "${found.name}@{GUID}" would be ${budget} characters, ONTAP allows ${MAX_SHARE_NAME} (base names of at most 41)`,
        { svm, share, cluster },
      );
    const volumes = (await volumesRead).filter((v) => v.nas?.path);
    const vol =
      volumes.find((v) => v.uuid === found.volume?.uuid) ??
      volumes
        .filter((v) => under(found.path, v.nas!.path!))
        .sort((a, b) => b.nas!.path!.length - a.nas!.path!.length)[0];
    if (!vol)
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `share "${share}" of SVM "${svm}" (cluster "${cluster}") points to ${found.path}, which lies in no mounted volume`,
        { svm, share, cluster },
      );
    if (vol.style === "flexgroup")
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `share "${share}" of SVM "${svm}" (cluster "${cluster}") lies on FlexGroup volume "${vol.name}"; ONTAP makes no file clones on FlexGroup volumes through REST, so Remote VSS copies need a FlexVol`,
        { svm, share, cluster, volume: vol.name },
      );
    const options = (await cifsRead).options ?? {};
    if (options.shadowcopy === false)
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `SVM "${svm}" (cluster "${cluster}") has shadow copies turned off (vserver cifs options modify -shadowcopy-enabled true); share "${share}" cannot be backed up`,
        { svm, share, cluster },
      );
    this.volumes.set(`${svm}/${vol.name}`, Promise.resolve(vol));
    const junction = vol.nas!.path!;
    return {
      svm,
      share: found.name,
      volume: vol.name,
      sharePath: found.path.slice(junction === "/" ? 1 : junction.length + 1),
      junctionPath: junction,
      namespacePath: found.path,
      junctionsBelow: volumes
        .filter((v) => v.uuid !== vol.uuid && v.nas!.path !== found.path && under(v.nas!.path!, found.path))
        .map((v) => v.nas!.path!),
      shadowCopyDirDepth: options.shadowcopy_dir_depth ?? 5,
    };
  }

  async checkFiles(share: ShareResolution, files: string[]): Promise<FileProblem[]> {
    const vol = await this.volume(share.svm, share.volume);
    const found = await this.statMany(
      share.svm,
      vol,
      files.map((f) => join(share.sharePath, f)),
      `checking the files of share "${share.share}"`,
    );
    const problems: FileProblem[] = [];
    files.forEach((f) => {
      const r = found.get(join(share.sharePath, f));
      const where = `share "${share.share}" of SVM "${share.svm}"`;
      if (!r) problems.push({ path: f, rule: "file-not-found", message: `file "${f}" does not exist in ${where}` });
      else if (r.type !== "file" || r.is_junction)
        problems.push({
          path: f,
          rule: "file-not-regular",
          message: `"${f}" in ${where} is a ${r.is_junction ? "volume junction" : (r.type ?? "special file")}, not a regular file`,
        });
    });
    return problems;
  }

  walkShare(share: ShareResolution): AsyncIterable<LayoutEntry[]> {
    return this.walk(share.svm, share.volume, share.sharePath, `walking share "${share.share}"`);
  }

  /** Every entry below `root` (volume-relative), a directory at a time, a few directories at once. */
  private async *walk(svm: string, volume: string, root: string, what: string): AsyncGenerator<LayoutEntry[]> {
    const vol = await this.volume(svm, volume);
    const skip = root === "" ? new Set([COPY_DIR, ".snapshot"]) : new Set<string>();
    let pending = [""];
    while (pending.length > 0) {
      const now = pending.splice(0, PARALLEL);
      // The layout rules need kinds, not sizes.
      const listed = await Promise.all(
        now.map((d) => this.list(svm, vol, join(root, d), what, { fields: "name,type,is_junction" })),
      );
      for (let i = 0; i < now.length; i++) {
        const dir = now[i]!;
        const depth = dir === "" ? 0 : dir.split("/").length;
        const batch: LayoutEntry[] = [];
        for (const r of listed[i]!) {
          if (dir === "" && skip.has(r.name!)) continue;
          const e: LayoutEntry = { path: join(dir, r.name!), kind: kindOf(r), depth };
          if (e.kind === "directory") pending.push(e.path);
          batch.push(e);
        }
        yield batch;
      }
    }
  }

  /** Regular files below a volume-relative directory with their sizes; anything else is refused (Remote VSS rule 1). */
  private async filesBelow(
    svm: string,
    volume: string,
    root: string,
    share: string,
    onDirectory?: (rel: string) => void,
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const vol = await this.volume(svm, volume);
    let pending = [""];
    while (pending.length > 0) {
      const now = pending.splice(0, PARALLEL);
      const listed = await Promise.all(
        now.map((d) => this.list(svm, vol, join(root, d), `listing "${join(root, d)}"`)),
      );
      now.forEach((dir, i) => {
        for (const r of listed[i]!) {
          if (dir === "" && root === "" && (r.name === COPY_DIR || r.name === ".snapshot")) continue;
          const rel = join(dir, r.name!);
          const kind = kindOf(r);
          if (kind === "directory") {
            pending.push(rel);
            onDirectory?.(rel);
          } else if (kind === "file") out.set(rel, r.size ?? 0);
          else {
            const entry = { path: rel, kind, depth: rel.split("/").length - 1 };
            throw new RvssError(ErrorCodes.FILE_NOT_REGULAR, notRegular(entry, { svm, share })!.message, {
              svm,
              share,
              file: rel,
            });
          }
        }
      });
    }
    return out;
  }

  /** Makes `dirs` and their parents, a level at a time, from `fromDepth` path segments down. */
  private async mkdirs(svm: string, vol: OntapVolume, dirs: string[], what: string, fromDepth = 1): Promise<void> {
    const all = new Set<string>();
    for (const d of dirs)
      for (let p = d; p !== "." && p !== "" && p.split("/").length >= fromDepth; p = path.posix.dirname(p)) all.add(p);
    const byDepth = [...all].sort((a, b) => a.split("/").length - b.split("/").length);
    for (let depth = fromDepth; byDepth.length > 0; depth++) {
      const level = byDepth.filter((d) => d.split("/").length === depth);
      byDepth.splice(0, level.length);
      await mapLimit(level, PARALLEL, (d) => this.mkdir(svm, vol, d, what));
    }
  }

  /**
   * Makes a directory whose parent exists; one that exists already (made by a twin or an earlier
   * run) is fine. True when this call made it.
   */
  private async mkdir(svm: string, vol: OntapVolume, rel: string, what: string): Promise<boolean> {
    const a = await this.client(svm).call("POST", filesPath(vol.uuid, rel), {
      body: { type: "directory", unix_permissions: "755" },
      ctx: this.ctx(svm, `${what}: making directory "${rel}"`, { volume: vol.name, path: rel }),
      allow: [409],
      reread: async () => (await this.meta(svm, vol, rel, what))?.type === "directory",
    });
    return a.status !== 409 && !a.reread;
  }

  /**
   * One file clone (POST /storage/file/clone, held by return_timeout). Never over a twin's clone:
   * a destination there already is an earlier run's or a twin's, kept when it has the source's
   * size. Says whether ONTAP forgot the job (its result may come later).
   */
  private async clone(
    svm: string,
    vol: OntapVolume,
    from: string,
    to: string,
    opts: { size: number; restore: boolean; overwrite: boolean; what: string },
  ): Promise<{ unknown: boolean }> {
    const matches = (r: OntapFile | null): boolean => r?.type === "file" && r.size === opts.size;
    const post = (overwrite: boolean) =>
      this.client(svm).call("POST", "/storage/file/clone", {
        body: {
          volume: { uuid: vol.uuid, name: vol.name },
          source_path: from,
          destination_path: to,
          overwrite_destination: overwrite,
          is_backup: opts.restore,
          autodelete: false,
        },
        ctx: this.ctx(svm, opts.what, { volume: vol.name, path: to }),
        waitForJob: true,
        reread: opts.restore ? undefined : async () => matches(await this.meta(svm, vol, to, opts.what)),
      });
    try {
      // A restore replaces the live file only when the caller asked for it.
      return { unknown: (await post(opts.overwrite)).job === "unknown" };
    } catch (err) {
      const there = opts.restore ? null : await this.meta(svm, vol, to, opts.what);
      if (there === null) throw err;
      // ... unless it is an older clone of a file that has changed since (a run that died).
      return matches(there) ? { unknown: false } : { unknown: (await post(true)).job === "unknown" };
    }
  }

  /**
   * Clones `files` (from -> to, with the source's size) and confirms each by reading the
   * destinations back, one listing per destination directory: ONTAP may accept a clone and make
   * nothing (into a missing directory, or with a job it forgets). Returns the sizes cloned.
   */
  private async cloneAll(
    svm: string,
    vol: OntapVolume,
    files: { from: string; to: string; size: number; label: string }[],
    opts: { restore: boolean; overwrite: boolean; what: string; onCloned?: (bytes: number) => void },
  ): Promise<number[]> {
    const posted = await mapLimit(files, PARALLEL, (f) =>
      this.clone(svm, vol, f.from, f.to, { ...opts, size: f.size, what: `${opts.what}: ${f.label}` }),
    );
    const read = () =>
      this.statMany(
        svm,
        vol,
        files.map((f) => f.to),
        opts.what,
      );
    const complete = (m: Map<string, OntapFile | null>) =>
      files.every((f) => m.get(f.to)?.type === "file" && m.get(f.to)?.size === f.size);
    // A job ONTAP forgot may still be at work: its destination is read until it is there.
    const made = posted.some((p) => p.unknown) ? await readUntil(read, complete) : await read();
    const sizes = await mapLimit(files, PARALLEL, async (f) => {
      const r = made.get(f.to) ?? null;
      if (r?.type === "file" && r.size !== undefined) {
        if (r.size === f.size) return r.size;
        // The source may have grown while it was cloned (a running VM): its size now decides.
        if (!opts.restore && (await this.meta(svm, vol, f.from, opts.what))?.size === r.size) return r.size;
      }
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `${opts.what}: ${f.label} (SVM "${svm}", cluster "${this.conf(svm).cluster}"): ONTAP accepted the clone of "${f.from}" to "${f.to}" on volume "${vol.name}", but ${r ? `the destination holds ${r.size} bytes, not ${f.size}` : "the destination does not exist"}`,
        { svm, volume: vol.name, path: f.to, cluster: this.conf(svm).cluster },
      );
    });
    for (const b of sizes) opts.onCloned?.(b);
    return sizes;
  }

  createShadowCopy(req: CreateShadowCopyRequest): Promise<ShadowCopyInfo> {
    return this.withVolume(req.svm, req.share.volume, (vol) => this.makeCopy(req, vol));
  }

  private async makeCopy(req: CreateShadowCopyRequest, vol: OntapVolume): Promise<ShadowCopyInfo> {
    const { svm, shadowCopyId: id } = req;
    const dir = join(COPY_DIR, id);
    const what = `making shadow copy ${id} of share "${req.share.share}"`;
    // A clone into a directory that does not exist is accepted and makes nothing: the copy's
    // directory first, made while the sources are read. A directory this call made holds no
    // earlier run's copy, so only one that was there is asked for its .done mark.
    const made = this.copyRoot(svm, vol, what).then(() => this.mkdir(svm, vol, dir, what));
    made.catch(() => undefined);
    let sources: Map<string, number>;
    // The directories the clones go into: a whole share's are made as the walk finds them (each
    // after its parent), so the clones need not wait for a level of directories after the walk.
    const copyDirs = new Map<string, Promise<unknown>>([["", made]]);
    if (req.files.length === 0) {
      sources = await this.filesBelow(svm, vol.name, req.share.sharePath, req.share.share, (d) => {
        const parent = path.posix.dirname(d);
        const p = copyDirs.get(parent === "." ? "" : parent)!.then(() => this.mkdir(svm, vol, join(dir, d), what));
        p.catch(() => undefined);
        copyDirs.set(d, p);
      });
    } else {
      sources = new Map();
      const found = await this.statMany(
        svm,
        vol,
        req.files.map((f) => join(req.share.sharePath, f)),
        what,
      );
      for (const f of req.files) {
        const r = found.get(join(req.share.sharePath, f));
        const details = { svm, share: req.share.share, file: f };
        if (!r)
          throw new RvssError(
            ErrorCodes.FILE_NOT_FOUND,
            `file "${f}" does not exist in share "${req.share.share}" of SVM "${svm}"`,
            details,
          );
        if (r.type !== "file")
          throw new RvssError(
            ErrorCodes.FILE_NOT_REGULAR,
            `"${f}" in share "${req.share.share}" of SVM "${svm}" is a ${r.type ?? "special file"}, not a regular file`,
            details,
          );
        sources.set(f, r.size ?? 0);
      }
    }
    if (!(await made) && (await this.isDone(svm, vol, id, what))) return this.copyInfo(svm, vol, id);
    const files = [...sources.keys()];
    if (req.files.length === 0) await Promise.all(copyDirs.values());
    else
      await this.mkdirs(
        svm,
        vol,
        files.map((f) => path.posix.dirname(join(dir, f))),
        what,
        3,
      );
    const bytesTotal = [...sources.values()].reduce((n, b) => n + b, 0);
    let bytesDone = 0;
    let filesDone = 0;
    const sizes = await this.cloneAll(
      svm,
      vol,
      files.map((f) => ({
        from: join(req.share.sharePath, f),
        to: join(dir, f),
        size: sources.get(f)!,
        label: `cloning "${f}"`,
      })),
      {
        restore: false,
        overwrite: false,
        what,
        onCloned: (bytes) => {
          bytesDone += bytes;
          req.onProgress?.({ bytes: bytesDone, files: ++filesDone, bytesTotal, filesTotal: files.length });
        },
      },
    );
    await this.mkdir(svm, vol, dir + DONE, what);
    return { clonePath: dir, bytes: sizes.reduce((n, b) => n + b, 0), fileCount: files.length };
  }

  /** The volume's .rvss directory, made once per process. */
  private copyRoot(svm: string, vol: OntapVolume, what: string): Promise<void> {
    let root = this.copyRoots.get(vol.uuid);
    if (!root) {
      root = this.mkdir(svm, vol, COPY_DIR, what).then(() => undefined);
      root.catch(() => this.copyRoots.delete(vol.uuid));
      this.copyRoots.set(vol.uuid, root);
    }
    return root;
  }

  private async copyInfo(svm: string, vol: OntapVolume, id: string): Promise<ShadowCopyInfo> {
    const dir = join(COPY_DIR, id);
    const files = await this.filesBelow(svm, vol.name, dir, dir);
    return { clonePath: dir, bytes: [...files.values()].reduce((n, b) => n + b, 0), fileCount: files.size };
  }

  /** Whether copy `id` on the volume is complete (its .done mark), asked with a tick's other copies in one listing of .rvss. */
  private async isDone(svm: string, vol: OntapVolume, id: string, what: string): Promise<boolean> {
    const found = await this.loader<OntapFile>(
      `done/${vol.uuid}`,
      (ids) =>
        this.list(svm, vol, COPY_DIR, what, {
          name: alternatives(ids.map((i) => i + DONE)),
          type: "directory",
          fields: "name,type",
        }),
      (r) => (r.name?.endsWith(DONE) ? [r.name.slice(0, -DONE.length).toLowerCase()] : []),
    ).load(id.toLowerCase());
    return found.length > 0;
  }

  private async shares(svm: string, name: string, fields: string): Promise<OntapShare[]> {
    return this.client(svm).records<OntapShare>(
      "/protocols/cifs/shares",
      { ...this.svmQuery(svm), name, fields },
      this.ctx(svm, `reading share "${name}"`, { share: name }),
    );
  }

  /**
   * The exposed shares of one copy: base@{id}, or base$@{id}$ for a hidden base share; asked with
   * a tick's other copies (`*@{a}*|*@{b}*`).
   */
  private exposedOf(svm: string, id: string, fields: string): Promise<OntapShare[]> {
    return this.loader<OntapShare>(
      `exposed/${svm}/${fields}`,
      (ids) => this.shares(svm, alternatives(ids.map((i) => `*@{${i}}*`)), fields),
      (r) => {
        const m = EXPOSED.exec(r.name);
        return m ? [m[1]!.toLowerCase()] : [];
      },
    ).load(id.toLowerCase());
  }

  exposeShadowCopy(req: ExposeRequest): Promise<{ accessPath: string }> {
    return this.withVolume(req.svm, req.volume, (vol) => this.expose(req, vol));
  }

  private async expose(req: ExposeRequest, vol: OntapVolume): Promise<{ accessPath: string }> {
    const { svm, exposedName: name } = req;
    const cluster = this.conf(svm).cluster;
    const details = { svm, share: name, volume: req.volume, shadowCopyId: req.shadowCopyId, cluster };
    if (name.length > MAX_SHARE_NAME)
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `exposed share name "${name}" is ${name.length} characters; ONTAP allows ${MAX_SHARE_NAME} (SVM "${svm}", cluster "${cluster}")`,
        details,
      );
    const dir = join(COPY_DIR, req.shadowCopyId);
    const what = `exposing shadow copy ${req.shadowCopyId} as "${name}"`;
    const [server, made, [base]] = await Promise.all([
      this.cifsServer(svm),
      this.isDone(svm, vol, req.shadowCopyId, what),
      this.sharesNamed(svm, req.baseShare, "name,acls"),
    ]);
    const accessPath = formatUnc(server.name ?? svm, name);
    if (!made)
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `shadow copy ${req.shadowCopyId} does not exist on volume "${req.volume}" of SVM "${svm}" (cluster "${cluster}"); cannot expose it as ${name}`,
        details,
      );
    if (!base)
      throw new RvssError(
        ErrorCodes.SHARE_NOT_FOUND,
        `share "${req.baseShare}" does not exist on SVM "${svm}" (cluster "${cluster}"); its copy cannot take its ACLs`,
        details,
      );
    // The exposed copy carries the base share's ACLs (FSRVP conformance row 35), read-only unless writable.
    const acls = (base.acls ?? []).map((a) => ({
      user_or_group: a.user_or_group,
      type: a.type,
      permission: req.writable ? a.permission : readOnly(a.permission),
    }));
    await this.client(svm).call("POST", "/protocols/cifs/shares", {
      body: {
        svm: this.svmRef(svm),
        name,
        path: join(vol.nas?.path ?? "/", dir),
        comment: `rvss shadow copy ${req.shadowCopyId} of ${req.baseShare}`,
        acls,
        browsable: false,
      },
      ctx: this.ctx(svm, what, { share: name, volume: req.volume, shadowCopyId: req.shadowCopyId }),
      // 409: exposed before (a command delivered twice, or a twin).
      allow: [409],
      reread: async () => (await this.shares(svm, name, "name")).length > 0,
    });
    return { accessPath };
  }

  sealShadowCopy(ref: ShadowCopyRef): Promise<void> {
    return this.withVolume(ref.svm, ref.volume, (vol) => this.seal(ref, vol));
  }

  private async seal(ref: ShadowCopyRef, vol: OntapVolume): Promise<void> {
    const { svm } = ref;
    const cluster = this.conf(svm).cluster;
    const what = `sealing shadow copy ${ref.shadowCopyId}`;
    const exposed = await this.exposedOf(svm, ref.shadowCopyId, "name,acls,svm.uuid");
    // A copy not exposed (yet) is reachable through no share; it must exist all the same.
    if (exposed.length === 0 && !(await this.isDone(svm, vol, ref.shadowCopyId, what)))
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `shadow copy ${ref.shadowCopyId} does not exist on volume "${ref.volume}" of SVM "${svm}" (cluster "${cluster}")`,
        { ...ref, cluster },
      );
    const client = this.client(svm);
    await mapLimit(exposed, PARALLEL, async (share) => {
      const ctx = this.ctx(svm, `${what}: making "${share.name}" read-only`, { share: share.name, ...ref });
      const svmUuid = share.svm?.uuid ?? "";
      const enc = encodeURIComponent(share.name);
      // ONTAP has no read-only share property: the share's ACL is the lever.
      await mapLimit(
        (share.acls ?? []).filter((a) => readOnly(a.permission) !== a.permission),
        PARALLEL,
        (a) =>
          client.call(
            "PATCH",
            `/protocols/cifs/shares/${svmUuid}/${enc}/acls/${encodeURIComponent(a.user_or_group)}/${a.type}`,
            { body: { permission: "read" }, ctx },
          ),
      );
      // Sessions opened before the change keep writing until they reconnect: close those with a file open in it.
      const sessions = new Map<string, OpenFile>();
      for (const f of await this.openFiles(svm, share.name))
        sessions.set(`${f.node?.uuid}/${f.session?.identifier}/${f.connection?.identifier}`, f);
      await mapLimit([...sessions.values()], PARALLEL, (f) =>
        client.call(
          "DELETE",
          `/protocols/cifs/sessions/${f.node?.uuid}/${f.svm?.uuid ?? svmUuid}/${f.session?.identifier}/${f.connection?.identifier}`,
          { ctx, allow: [404] },
        ),
      );
    });
  }

  /** The files open through share `name` (GET /protocols/cifs/session/files), asked with a tick's other shares. */
  private openFiles(svm: string, name: string): Promise<OpenFile[]> {
    const read = (share: string) =>
      this.client(svm).records<OpenFile>(
        "/protocols/cifs/session/files",
        {
          ...this.svmQuery(svm),
          "share.name": share,
          fields: "node.uuid,svm.uuid,session.identifier,connection.identifier,share.name",
        },
        this.ctx(svm, `reading the files open in share "${share}"`, { share }),
      );
    if (!batchable(name)) return read(name);
    return this.loader<OpenFile>(
      `open/${svm}`,
      (names) => read(alternatives(names)),
      (f) => (f.share?.name ? [f.share.name.toLowerCase()] : []),
      // Asked after each share's own ACL change, which end a little apart.
      OPEN_FILES_WINDOW_MS,
    ).load(name.toLowerCase());
  }

  deleteShadowCopy(ref: ShadowCopyRef): Promise<void> {
    return this.withVolume(ref.svm, ref.volume, (vol) => this.removeCopy(ref, vol));
  }

  private async removeCopy(ref: ShadowCopyRef, vol: OntapVolume): Promise<void> {
    const { svm } = ref;
    const client = this.client(svm);
    const what = `removing shadow copy ${ref.shadowCopyId}`;
    const ctx = this.ctx(svm, what, { ...ref });
    const dir = join(COPY_DIR, ref.shadowCopyId);
    // The shares and the mark first: a copy half removed is never taken for a complete one.
    await Promise.all([
      this.exposedOf(svm, ref.shadowCopyId, "name,svm.uuid").then((shares) =>
        mapLimit(shares, PARALLEL, (share) =>
          client.call("DELETE", `/protocols/cifs/shares/${share.svm?.uuid}/${encodeURIComponent(share.name)}`, {
            ctx: { ...ctx, share: share.name },
            allow: [404],
          }),
        ),
      ),
      client.call("DELETE", filesPath(vol.uuid, dir + DONE), { ctx, allow: [404], waitForJob: true }),
    ]);
    const removal = await client.call("DELETE", filesPath(vol.uuid, dir), {
      query: { recurse: true },
      ctx,
      allow: [404],
      waitForJob: true,
    });
    // A job ONTAP forgot may not have done its work: read the directory back.
    if (
      removal.job === "unknown" &&
      (await readUntil(
        () => this.meta(svm, vol, dir, what),
        (r) => r === null,
      ))
    )
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `${what} (SVM "${svm}", cluster "${this.conf(svm).cluster}"): ONTAP accepted the removal of "${dir}" on volume "${vol.name}", but it is still there`,
        { ...ref, path: dir, cluster: this.conf(svm).cluster },
      );
  }

  private async snapshot(svm: string, vol: OntapVolume, name: string): Promise<OntapSnapshot | null> {
    const [r] = await this.client(svm).records<OntapSnapshot>(
      `/storage/volumes/${vol.uuid}/snapshots`,
      { name, fields: "name,uuid,create_time,comment" },
      this.ctx(svm, `reading snapshot "${name}"`, { volume: vol.name, snapshot: name }),
    );
    return r ?? null;
  }

  createSnapshot(ref: SnapshotRef): Promise<SnapshotInfo> {
    return this.withVolume(ref.svm, ref.volume, (vol) => this.takeSnapshot(ref, vol));
  }

  private async takeSnapshot(ref: SnapshotRef, vol: OntapVolume): Promise<SnapshotInfo> {
    const { svm, name } = ref;
    const cluster = this.conf(svm).cluster;
    const details = { svm, volume: ref.volume, snapshot: name, cluster };
    if (!SNAPSHOT_NAME.test(name))
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `snapshot name "${name}" is not 1 to 255 of the characters A-Z a-z 0-9 _ . - (volume "${ref.volume}", SVM "${svm}", cluster "${cluster}")`,
        details,
      );
    const comment = `rvss ${name}`;
    const info = (r: OntapSnapshot): SnapshotInfo => ({ ...ref, createdAt: Date.parse(r.create_time ?? "") || 0 });
    const mine = (r: OntapSnapshot | null): OntapSnapshot | null => {
      if (r && r.comment !== comment)
        throw new RvssError(
          ErrorCodes.INVALID_ARGUMENT,
          `snapshot "${name}" already exists on volume "${ref.volume}" of SVM "${svm}" (cluster "${cluster}") and rvss did not make it`,
          details,
        );
      return r;
    };
    // No read first: a snapshot of that name makes the POST fail, and the read after it decides.
    try {
      await this.client(svm).call("POST", `/storage/volumes/${vol.uuid}/snapshots`, {
        body: { name, comment },
        ctx: this.ctx(svm, `taking snapshot "${name}"`, { volume: ref.volume, snapshot: name }),
        waitForJob: true,
        allow: [409],
        reread: async () => (await this.snapshot(svm, vol, name)) !== null,
      });
    } catch (err) {
      // A twin's snapshot of the same name makes this one fail: then it is there, and ours.
      const twin = mine(await this.snapshot(svm, vol, name));
      if (twin) return info(twin);
      throw err;
    }
    const made = mine(await this.snapshot(svm, vol, name));
    if (!made)
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `ONTAP accepted snapshot "${name}" of volume "${ref.volume}" (SVM "${svm}", cluster "${cluster}"), but does not list it`,
        details,
      );
    return info(made);
  }

  deleteSnapshot(ref: SnapshotRef): Promise<void> {
    return this.withVolume(ref.svm, ref.volume, (vol) => this.dropSnapshot(ref, vol));
  }

  private async dropSnapshot(ref: SnapshotRef, vol: OntapVolume): Promise<void> {
    const { svm, name } = ref;
    const s = await this.snapshot(svm, vol, name);
    if (!s) return;
    await this.client(svm).call("DELETE", `/storage/volumes/${vol.uuid}/snapshots/${s.uuid}`, {
      ctx: this.ctx(svm, `deleting snapshot "${name}"`, { volume: ref.volume, snapshot: name }),
      allow: [404],
      waitForJob: true,
    });
    if (await this.snapshot(svm, vol, name))
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `ONTAP accepted the deletion of snapshot "${name}" of volume "${ref.volume}" (SVM "${svm}", cluster "${this.conf(svm).cluster}"), but still lists it`,
        { svm, volume: ref.volume, snapshot: name },
      );
  }

  async restore(req: RestoreJob): Promise<RestoredFileReport[]> {
    const snap = req.snapshot;
    const cluster = this.conf(snap.svm).cluster;
    const details = {
      svm: snap.svm,
      volume: snap.volume,
      snapshot: snap.name,
      shadowCopyId: req.shadowCopyId,
      cluster,
    };
    if (req.target.kind !== "share")
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `the ontap backend restores into a share of the snapshot's volume (rvss restore --to-share); ONTAP's REST API cannot clone into directory ${req.target.path} on this host`,
        details,
      );
    const vol = await this.volume(snap.svm, snap.volume);
    const copy = join(".snapshot", snap.name, COPY_DIR, req.shadowCopyId);
    const what = `restoring from snapshot "${snap.name}"`;
    if (!(await this.meta(snap.svm, vol, copy + DONE, what)))
      throw new RvssError(
        ErrorCodes.SNAPSHOT_NOT_FOUND,
        `snapshot "${snap.name}" of volume "${snap.volume}" (SVM "${snap.svm}", cluster "${cluster}") holds no complete shadow copy ${req.shadowCopyId}`,
        details,
      );
    const manifest = await this.filesBelow(snap.svm, snap.volume, copy, copy);
    const files = req.files.length > 0 ? req.files : [...manifest.keys()].sort();
    for (const f of files)
      if (!manifest.has(f))
        throw new RvssError(ErrorCodes.FILE_NOT_FOUND, `file "${f}" is not in the backup (snapshot "${snap.name}")`, {
          file: f,
          snapshot: snap.name,
        });
    const target = await this.resolveShare(req.target.svm, req.target.share);
    if (target.svm !== snap.svm || target.volume !== snap.volume)
      throw new RvssError(
        ErrorCodes.INVALID_ARGUMENT,
        `share "${target.share}" of SVM "${target.svm}" lies on volume "${target.volume}"; ONTAP clones files only within one volume, and the backup is on volume "${snap.volume}" of SVM "${snap.svm}"`,
        details,
      );
    // Checked for every file before the first is cloned: a refused restore changes nothing.
    if (!req.overwrite) {
      const there = await this.statMany(
        snap.svm,
        vol,
        files.map((f) => join(target.sharePath, f)),
        what,
      );
      const taken = files.filter((f) => there.get(join(target.sharePath, f)) != null);
      if (taken.length > 0)
        throw new RvssError(
          ErrorCodes.FILE_EXISTS,
          `${taken.length === 1 ? "a file exists" : `${taken.length} files exist`} in share "${target.share}" of SVM "${target.svm}" (cluster "${cluster}"): ${taken
            .slice(0, 10)
            .map((f) => `"${f}"`)
            .join(
              ", ",
            )}${taken.length > 10 ? ", …" : ""}; ONTAP cannot compare their contents with the backup's, so restore with overwrite (rvss restore --overwrite) to replace them`,
          { ...details, file: taken[0]! },
        );
    }
    await this.mkdirs(
      snap.svm,
      vol,
      files.map((f) => path.posix.dirname(join(target.sharePath, f))),
      what,
    );
    const bytesTotal = files.reduce((n, f) => n + manifest.get(f)!, 0);
    let bytesDone = 0;
    let filesDone = 0;
    const sizes = await this.cloneAll(
      snap.svm,
      vol,
      files.map((f) => ({
        from: join(copy, f),
        to: join(target.sharePath, f),
        size: manifest.get(f)!,
        label: `restoring "${f}"`,
      })),
      {
        restore: true,
        overwrite: req.overwrite,
        what,
        onCloned: (bytes) => {
          bytesDone += bytes;
          req.onProgress?.({ bytes: bytesDone, files: ++filesDone, bytesTotal, filesTotal: files.length });
        },
      },
    );
    // ONTAP computes no checksums: the restore is verified by size against the snapshot's copy.
    return files.map((f, i) => ({ path: f, bytes: sizes[i]!, sha256: "" }));
  }

  /** FlexVol volumes of the SVM (rvss makes nothing on FlexGroups). */
  private async flexVols(svm: string): Promise<OntapVolume[]> {
    return (await this.svmVolumes(svm, this.ctx(svm, "listing volumes"))).filter((v) => v.style !== "flexgroup");
  }

  /** Every volume of the SVM, as read in the last few seconds. */
  private svmVolumes(svm: string, ctx: CallContext): Promise<OntapVolume[]> {
    return this.fresh(`volumes/${svm}`, () =>
      this.client(svm).records<OntapVolume>(
        "/storage/volumes",
        { ...this.svmQuery(svm), fields: "uuid,name,nas.path,style" },
        ctx,
      ),
    );
  }

  /** rvss's snapshots on every volume of the SVM: one query across its volumes (/storage/volumes/*\/snapshots). */
  async listSnapshots(svm: string): Promise<SnapshotInfo[]> {
    const r = await this.client(svm).records<OntapSnapshot & { volume?: { name?: string } }>(
      "/storage/volumes/*/snapshots",
      { ...this.svmQuery(svm), name: "rvss_*", fields: "name,create_time,volume.name" },
      this.ctx(svm, "listing snapshots"),
    );
    return r.map((x) => ({
      svm,
      volume: x.volume?.name ?? "",
      name: x.name,
      createdAt: Date.parse(x.create_time ?? "") || 0,
    }));
  }

  async listShadowCopies(svm: string): Promise<CopyInfo[]> {
    const out: CopyInfo[] = [];
    for (const v of await this.flexVols(svm)) {
      const ids = new Set<string>();
      for (const e of await this.list(svm, v, COPY_DIR, "listing shadow copies", { fields: "name,type" }))
        if (e.type === "directory") ids.add(e.name!.endsWith(DONE) ? e.name!.slice(0, -DONE.length) : e.name!);
      for (const id of ids) out.push({ svm, volume: v.name, shadowCopyId: id, clonePath: join(COPY_DIR, id) });
    }
    return out;
  }

  async listExposedShares(svm: string): Promise<ExposedShareInfo[]> {
    const out: ExposedShareInfo[] = [];
    for (const r of await this.shares(svm, "*@{*}", "name,path,volume.name")) {
      const m = EXPOSED.exec(r.name);
      if (m && r.volume?.name)
        out.push({ svm, name: r.name, volume: r.volume.name, shadowCopyId: m[1]!.toLowerCase() });
    }
    return out;
  }
}
