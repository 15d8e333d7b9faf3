/**
 * A fake ONTAP cluster for tests and benchmarks: real HTTPS (a test CA), real files behind it (each
 * volume a directory, each snapshot a copy of one), and the response shapes of ONTAP's REST API as
 * its OpenAPI definition gives them: collections `{records, num_records}`, 202 with
 * `{job: {uuid, _links}}` and jobs that go queued/running → success/failure, and the error body
 * `{error: {message, code, target}}`. Only the calls the ontap backend makes are served.
 *
 * It keeps ONTAP's gotchas: a file clone into a directory that does not exist is accepted and makes
 * nothing; `return_timeout` holds an answer until the job ends (200 or 201 when it succeeded; a job
 * that failed answers 202, and its failure is read from the job: what ONTAP answers then is not
 * documented). Collections take ONTAP's query syntax on the fields they filter by (`a|b`, `*`, `!`)
 * and `fields=`: a record carries its keys and the fields asked for, and the fake reads from disk
 * only what was asked (a listing without `size` stats no file). Faults can be injected per call: an
 * HTTP status, a dropped connection, a slow answer, a failing job, a job that answers 404, a clone
 * that silently makes nothing.
 *
 * Its disk work is synchronous: on tmpfs or in the page cache a call takes a few microseconds, and
 * handing it to libuv's thread pool costs several times that (21 against 4 to 8 µs measured for a
 * readdir or an lstat), CPU that a benchmark's fake clusters take from the rvss beside them.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { TestPki } from "./pki";

export interface FakeAcl {
  user_or_group: string;
  type: "windows" | "unix_user" | "unix_group";
  permission: "no_access" | "read" | "change" | "full_control";
}

export interface FakeSvmSpec {
  name: string;
  /** The CIFS server's name (default: the SVM's name in capitals). */
  cifsServer?: string;
  shadowcopy?: boolean;
  shadowcopyDirDepth?: number;
  volumes: { name: string; junction: string; style?: "flexvol" | "flexgroup" }[];
  shares: { name: string; path: string; acls?: FakeAcl[] }[];
}

/** Milliseconds a kind of work takes on the fake cluster (jobs run that long before they end). */
export interface FakeLatency {
  /** Every answer. */
  request: number;
  clone: number;
  snapshot: number;
  snapshotDelete: number;
  fileDelete: number;
  shareCreate: number;
  shareDelete: number;
  aclPatch: number;
}

export interface FakeOntapOptions {
  /** Where the volumes and snapshots live. */
  root: string;
  pki: TestPki;
  svms: FakeSvmSpec[];
  username: string;
  password: string;
  latency?: Partial<FakeLatency>;
  /** Listen port (0: any). */
  port?: number;
  /** Records per page of a collection (ONTAP's default max_records is 10,000). */
  pageSize?: number;
}

export type FaultKind =
  | { kind: "status"; status: number; message?: string; code?: string }
  | { kind: "drop" }
  | { kind: "slow"; ms: number }
  | { kind: "job-failure"; message: string; code: number }
  | { kind: "job-404" }
  | { kind: "noop" };

export type Fault = FaultKind & {
  method?: string;
  /** Matched against the decoded path below /api, e.g. /storage/file/clone. */
  path: RegExp;
  /** How many matching calls it hits (default 1). */
  times?: number;
};

export interface FakeCall {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

interface Volume {
  uuid: string;
  name: string;
  svm: Svm;
  junction: string;
  style: string;
  dir: string;
}

interface Share {
  name: string;
  path: string;
  acls: FakeAcl[];
}

interface Svm {
  uuid: string;
  name: string;
  cifsServer: string;
  shadowcopy: boolean;
  depth: number;
  volumes: Volume[];
  shares: Share[];
}

interface Snapshot {
  uuid: string;
  name: string;
  comment: string;
  createTime: string;
  dir: string;
}

interface Job {
  uuid: string;
  description: string;
  state: "queued" | "running" | "success" | "failure";
  message: string;
  code: number;
  startTime: string;
  endTime?: string;
  forgotten: boolean;
  done: Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
    readonly target?: string,
  ) {
    super(message);
  }
}

const notFound = (what: string, target?: string): HttpError =>
  new HttpError(404, `${what}: entry doesn't exist`, "4", target);

const patterns = new Map<string, { re: RegExp; neg: boolean }[] | Set<string>>();

/** ONTAP's query values: `a|b` alternatives, `*` wildcards, `!` negation; case-insensitive. */
export function queryMatches(value: string, pattern: string): boolean {
  let alts = patterns.get(pattern);
  if (!alts) {
    // Plain alternatives (no wildcard, no negation) are names to look up.
    alts = /[*!]/.test(pattern)
      ? pattern.split("|").map((alt) => {
          const neg = alt.startsWith("!");
          const glob = neg ? alt.slice(1) : alt;
          const body = glob
            .split("*")
            .map((p) => p.replace(/[.+?^${}()[\]\\]/g, "\\$&"))
            .join(".*");
          return { re: new RegExp(`^${body}$`, "i"), neg };
        })
      : new Set(pattern.toLowerCase().split("|"));
    if (patterns.size > 10_000) patterns.clear();
    patterns.set(pattern, alts);
  }
  return alts instanceof Set ? alts.has(value.toLowerCase()) : alts.some((a) => a.re.test(value) !== a.neg);
}

/**
 * A record as ONTAP answers `fields=`: its keys (always there) and the fields asked for, a dotted
 * field (`nas.path`) keeping only that part of its object; no `fields`, `*` or `**`: all of it.
 */
export function projectFields(rec: Record<string, unknown>, fields: string | undefined, keys: readonly string[]) {
  if (fields === undefined || fields === "*" || fields === "**") return rec;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k in rec) out[k] = rec[k];
  for (const f of fields.split(",")) {
    const dot = f.indexOf(".");
    if (dot < 0) {
      if (f in rec) out[f] = rec[f];
      continue;
    }
    const head = f.slice(0, dot);
    const inner = rec[head];
    if (typeof inner !== "object" || inner === null) continue;
    const sub = projectFields(inner as Record<string, unknown>, f.slice(dot + 1), []);
    out[head] = keys.includes(head) ? inner : { ...(out[head] as object | undefined), ...sub };
  }
  return out;
}

/** Whether `fields=` asks for `field` (no `fields`: the fake answers everything). */
const wants = (fields: string | undefined, field: string): boolean =>
  fields === undefined || fields === "*" || fields === "**" || fields.split(",").includes(field);

const now = (): string => new Date().toISOString();

/** True when namespace path `p` lies in the volume mounted at `junction` (case-insensitive, as ONTAP). */
function underJunction(p: string, junction: string): boolean {
  const a = p.toLowerCase();
  const j = junction.toLowerCase();
  return j === "/" || a === j || a.startsWith(j + "/");
}

function typeOf(st: fs.Stats | fs.Dirent): string {
  if (st.isDirectory()) return "directory";
  if (st.isFile()) return "file";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isSocket()) return "socket";
  return st.isBlockDevice() ? "block_device" : "char_device";
}

/**
 * A snapshot's copy of a volume: every directory made, every file cloned where the filesystem can
 * (a byte copy elsewhere), symlinks kept as links; one readdir per directory and no stat. Made in
 * one go, so no other call of the fake lands in the middle of it: a snapshot is a point in time.
 */
function copyTree(from: string, to: string): void {
  fs.mkdirSync(to);
  for (const e of fs.readdirSync(from, { withFileTypes: true })) {
    const a = path.join(from, e.name);
    const b = path.join(to, e.name);
    if (e.isDirectory()) copyTree(a, b);
    else if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(a), b);
    else if (e.isFile()) fs.copyFileSync(a, b, fs.constants.COPYFILE_FICLONE);
  }
}

/** A request's body, read with plain events: an async iterator per request costs more than the read. */
function readBody(req: IncomingMessage): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => resolve(chunks));
    req.once("error", reject);
  });
}

/** The error code of a failed file system call, or null when it succeeded. */
function fsCode(call: () => unknown): string | null {
  try {
    call();
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) throw err;
    return code;
  }
}

/** rm -rf of a tree that may be gone already: one readdir per directory, no stat. */
function removeTree(p: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(p, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    if (code === "ENOTDIR") return void fsCode(() => fs.unlinkSync(p));
    throw err;
  }
  for (const e of entries)
    if (e.isDirectory()) removeTree(path.join(p, e.name));
    else fsCode(() => fs.unlinkSync(path.join(p, e.name)));
  const code = fsCode(() => fs.rmdirSync(p));
  if (code !== null && code !== "ENOENT") throw new Error(`rmdir ${p}: ${code}`);
}

/** The fields that identify a record of each collection: ONTAP returns them whatever `fields=` says. */
const KEYS: [RegExp, string[]][] = [
  [/^\/protocols\/cifs\/shares$/, ["svm", "name"]],
  [/^\/protocols\/cifs\/services$/, ["svm"]],
  [/^\/protocols\/cifs\/session\/files$/, ["node", "svm", "identifier", "session", "connection"]],
  [/^\/storage\/volumes$/, ["uuid", "name"]],
  [/^\/storage\/volumes\/[^/]+\/snapshots$/, ["uuid", "name", "volume"]],
  [/^\/storage\/volumes\/[^/]+\/files/, ["name", "path"]],
  [/^\/svm\/svms$/, ["uuid", "name"]],
];

export class FakeOntap {
  /** Every call answered, in order (for tests that check what the backend did). */
  readonly calls: FakeCall[] = [];
  /** Every call as it arrives, answered or not (a job's answer may be held until the job ends). */
  readonly arrived: { method: string; path: string }[] = [];
  /**
   * Open CIFS sessions a seal must close: node, identifier, connection and the share they have a file
   * open in (served as the open files of /protocols/cifs/session/files).
   */
  readonly sessions: { node: string; svm: string; identifier: number; connection_id: number; share: string }[] = [];
  private readonly svms: Svm[] = [];
  private readonly volumesByUuid = new Map<string, Volume>();
  private basic = "";
  private readonly snapshots = new Map<string, Snapshot[]>();
  private readonly jobs = new Map<string, Job>();
  private readonly faults: Fault[] = [];
  private readonly latency: FakeLatency;
  private server!: https.Server;
  address = "";

  private constructor(private readonly opts: FakeOntapOptions) {
    this.latency = {
      request: 0,
      clone: 0,
      snapshot: 0,
      snapshotDelete: 0,
      fileDelete: 0,
      shareCreate: 0,
      shareDelete: 0,
      aclPatch: 0,
      ...opts.latency,
    };
  }

  static async start(opts: FakeOntapOptions): Promise<FakeOntap> {
    const f = new FakeOntap(opts);
    f.basic = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString("base64")}`;
    for (const spec of opts.svms) await f.addSvm(spec);
    f.server = https.createServer(
      {
        key: opts.pki.serverKey,
        cert: opts.pki.serverCert,
        ca: fs.readFileSync(opts.pki.caFile),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => void f.handle(req, res),
    );
    f.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => f.server.listen(opts.port ?? 0, "127.0.0.1", resolve));
    f.address = `127.0.0.1:${(f.server.address() as { port: number }).port}`;
    return f;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Adds an SVM with its volumes (directories, created) and shares. */
  async addSvm(spec: FakeSvmSpec): Promise<void> {
    const svm: Svm = {
      uuid: randomUUID(),
      name: spec.name,
      cifsServer: spec.cifsServer ?? spec.name.toUpperCase(),
      shadowcopy: spec.shadowcopy ?? true,
      depth: spec.shadowcopyDirDepth ?? 5,
      volumes: [],
      shares: spec.shares.map((s) => ({
        name: s.name,
        path: s.path,
        acls: s.acls ?? [{ user_or_group: "Everyone", type: "windows", permission: "full_control" }],
      })),
    };
    for (const v of spec.volumes) {
      const dir = path.join(this.opts.root, "volumes", spec.name, v.name);
      fs.mkdirSync(dir, { recursive: true });
      const vol = { uuid: randomUUID(), name: v.name, svm, junction: v.junction, style: v.style ?? "flexvol", dir };
      svm.volumes.push(vol);
      this.volumesByUuid.set(vol.uuid, vol);
    }
    this.svms.push(svm);
  }

  /** A volume's active file system on disk. */
  volumeDir(svm: string, volume: string): string {
    return this.vol(svm, volume).dir;
  }

  /** ONTAP's UUID of an SVM, or of one of its volumes. */
  uuidOf(svm: string, volume?: string): string {
    return volume === undefined ? this.svmByName(svm).uuid : this.vol(svm, volume).uuid;
  }

  /** Changes what a snapshot's record says, as an administrator could (`volume snapshot modify`). */
  setSnapshotComment(svm: string, volume: string, name: string, comment: string): void {
    const snap = (this.snapshots.get(this.vol(svm, volume).uuid) ?? []).find((s) => s.name === name);
    if (!snap) throw new Error(`the fake has no snapshot ${name} on ${svm}/${volume}`);
    snap.comment = comment;
  }

  /** Names of a volume's snapshots. */
  snapshotNames(svm: string, volume: string): string[] {
    return (this.snapshots.get(this.vol(svm, volume).uuid) ?? []).map((s) => s.name);
  }

  /** Names of an SVM's shares. */
  shareNames(svm: string): string[] {
    return this.svmByName(svm).shares.map((s) => s.name);
  }

  share(svm: string, name: string): Share | undefined {
    return this.svmByName(svm).shares.find((s) => s.name.toLowerCase() === name.toLowerCase());
  }

  /** Makes the next `times` calls matching `fault.path` (and method) misbehave. */
  inject(fault: Fault): void {
    this.faults.push({ times: 1, ...fault });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  setLatency(latency: Partial<FakeLatency>): void {
    Object.assign(this.latency, latency);
  }

  private svmByName(name: string): Svm {
    const s = this.svms.find((x) => x.name === name);
    if (!s) throw new Error(`the fake has no SVM ${name}`);
    return s;
  }

  private vol(svm: string, volume: string): Volume {
    const v = this.svmByName(svm).volumes.find((x) => x.name === volume);
    if (!v) throw new Error(`the fake has no volume ${svm}/${volume}`);
    return v;
  }

  private take(method: string, p: string): Fault | null {
    const i = this.faults.findIndex((f) => (!f.method || f.method === method) && f.path.test(p));
    if (i < 0) return null;
    const f = this.faults[i]!;
    if (--f.times! <= 0) this.faults.splice(i, 1);
    return f;
  }

  private authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization;
    if (h !== undefined) return h === this.basic;
    const sock = req.socket as TLSSocket;
    return sock.authorized && sock.getPeerCertificate()?.subject?.CN === this.opts.pki.clientUser;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? "/";
    const q = target.indexOf("?");
    const rawPath = (q < 0 ? target : target.slice(0, q)).replace(/^\/api/, "");
    const search = q < 0 ? "" : target.slice(q + 1);
    const query = Object.fromEntries(new URLSearchParams(search));
    const method = req.method ?? "GET";
    const decoded = decodeURIComponent(rawPath);
    this.arrived.push({ method, path: decoded });
    const chunks = method === "GET" ? [] : await readBody(req);
    let status = 500;
    const send = (code: number, body: unknown): void => {
      status = code;
      const text = JSON.stringify(body);
      res.writeHead(code, { "content-type": "application/hal+json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    try {
      if (this.latency.request > 0) await sleep(this.latency.request);
      const fault = this.faults.length > 0 ? this.take(method, decoded) : null;
      if (fault?.kind === "drop") {
        req.socket.destroy();
        status = 0;
        return;
      }
      if (fault?.kind === "slow") await sleep(fault.ms);
      if (fault?.kind === "status") {
        send(fault.status, { error: { message: fault.message ?? "injected failure", code: fault.code ?? "1" } });
        return;
      }
      if (!this.authorized(req)) {
        send(401, { error: { message: "not authenticated", code: "6" } });
        return;
      }
      const body =
        chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>) : {};
      const out = await this.route(method, rawPath, query, body, fault);
      send(out.status, method === "GET" ? this.page(rawPath, query, out.body) : out.body);
    } catch (err) {
      if (err instanceof HttpError)
        send(err.status, {
          error: { message: err.message, code: err.code, ...(err.target ? { target: err.target } : {}) },
        });
      else send(500, { error: { message: (err as Error).message, code: "1" } });
    } finally {
      this.calls.push({ method, path: decoded, query, status });
    }
  }

  /**
   * One page of a collection: at most `max_records` (or the fake's page size) from `start.index`,
   * with `_links.next` when more follow, as ONTAP pages at max_records or its own time limit.
   */
  private page(rawPath: string, query: Record<string, string>, body: unknown): unknown {
    const all = (body as { records?: unknown[] }).records;
    if (!Array.isArray(all)) return body;
    const size = Number(query["max_records"] ?? this.opts.pageSize ?? 10_000);
    const start = Number(query["start.index"] ?? 0);
    const keys = KEYS.find(([re]) => re.test(rawPath))?.[1] ?? [];
    const records = all
      .slice(start, start + size)
      .map((r) => projectFields(r as Record<string, unknown>, query["fields"], keys));
    const out: Record<string, unknown> = { ...(body as object), records, num_records: records.length };
    if (start + size < all.length) {
      const next = new URLSearchParams({ ...query, "start.index": String(start + size) });
      out["_links"] = { next: { href: `/api${rawPath}?${next.toString()}` } };
    }
    return out;
  }

  /** Starts a job: `work` runs after `ms`; the answer waits for it when return_timeout allows. */
  private async job(
    description: string,
    ms: number,
    work: () => void,
    query: Record<string, string>,
    fault: Fault | null,
    created: number,
  ): Promise<{ status: number; body: unknown }> {
    const uuid = randomUUID();
    const job: Job = {
      uuid,
      description,
      state: "running",
      message: "",
      code: 0,
      startTime: now(),
      forgotten: fault?.kind === "job-404",
      done: Promise.resolve(),
    };
    job.done = (async () => {
      await sleep(ms);
      try {
        if (fault?.kind === "job-failure") throw new HttpError(500, fault.message, String(fault.code));
        if (fault?.kind !== "noop") work();
        job.state = "success";
        job.message = "success";
      } catch (err) {
        job.state = "failure";
        job.message = (err as Error).message;
        job.code = err instanceof HttpError ? Number(err.code) : 1;
      }
      job.endTime = now();
    })();
    this.jobs.set(uuid, job);
    const link = { job: { uuid, _links: { self: { href: `/api/cluster/jobs/${uuid}` } } } };
    const wait = Number(query["return_timeout"] ?? 0) * 1000;
    if (wait > 0 && ms <= wait && !job.forgotten) {
      await job.done;
      if (job.state === "success") return { status: created, body: link };
    }
    return { status: 202, body: link };
  }

  /** The SVM a query (svm.uuid or svm.name, ONTAP's query syntax) or a body's `svm` names. */
  private svmOf(query: Record<string, string>, body?: Record<string, unknown>): Svm | undefined {
    const inBody = body?.["svm"] as { uuid?: string; name?: string } | undefined;
    const uuid = query["svm.uuid"] ?? inBody?.uuid;
    const name = query["svm.name"] ?? inBody?.name;
    if (uuid !== undefined) return this.svms.find((s) => s.uuid === uuid);
    if (name === undefined) return undefined;
    return body ? this.svms.find((s) => s.name === name) : this.svms.find((s) => queryMatches(s.name, name));
  }

  private volByUuid(uuid: string): Volume {
    const v = this.volumesByUuid.get(uuid);
    if (!v) throw new HttpError(404, "volume not found", "918235", "volume.uuid");
    return v;
  }

  /** A volume-relative path on disk: the active file system, or .snapshot/<name>/... inside a snapshot. */
  private disk(vol: Volume, rel: string): { file: string; readOnly: boolean } {
    const parts = rel.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.some((p) => p === "..")) throw new HttpError(400, `path "${rel}" is invalid`, "131073", "path");
    if (parts[0] === ".snapshot") {
      const snap = (this.snapshots.get(vol.uuid) ?? []).find((s) => s.name === parts[1]);
      if (!snap) throw new HttpError(404, `no such file or directory "${rel}"`, "131074", "path");
      return { file: path.join(snap.dir, ...parts.slice(2)), readOnly: true };
    }
    return { file: path.join(vol.dir, ...parts), readOnly: false };
  }

  /** Namespace path of a volume-relative path, to find volume junctions mounted there. */
  private junctionAt(vol: Volume, rel: string): Volume | undefined {
    const ns = path.posix.join(vol.junction, rel);
    return vol.svm.volumes.find((v) => v !== vol && v.junction === ns);
  }

  private async route(
    method: string,
    p: string,
    q: Record<string, string>,
    body: Record<string, unknown>,
    fault: Fault | null,
  ): Promise<{ status: number; body: unknown }> {
    const collection = (records: unknown[]) => ({ status: 200, body: { records, num_records: records.length } });
    let m: RegExpExecArray | null;
    if (method === "GET" && (m = /^\/cluster\/jobs\/([^/]+)$/.exec(p))) {
      const job = this.jobs.get(m[1]!);
      if (!job || job.forgotten) throw notFound("job", "uuid");
      return {
        status: 200,
        body: {
          uuid: job.uuid,
          description: job.description,
          state: job.state,
          message: job.message,
          code: job.code,
          start_time: job.startTime,
          ...(job.endTime ? { end_time: job.endTime } : {}),
          ...(job.state === "failure" ? { error: { message: job.message, code: String(job.code) } } : {}),
        },
      };
    }
    if (method === "GET" && p === "/svm/svms") {
      return collection(
        this.svms
          .filter((s) => (!q["name"] || queryMatches(s.name, q["name"])) && (!q["uuid"] || s.uuid === q["uuid"]))
          .map((s) => ({ uuid: s.uuid, name: s.name })),
      );
    }
    if (method === "GET" && p === "/protocols/cifs/services") {
      const s = this.svmOf(q);
      return collection(
        s
          ? [
              {
                svm: { uuid: s.uuid, name: s.name },
                name: s.cifsServer,
                options: { shadowcopy: s.shadowcopy, shadowcopy_dir_depth: s.depth },
              },
            ]
          : [],
      );
    }
    if (p === "/protocols/cifs/shares" || p.startsWith("/protocols/cifs/shares/"))
      return this.shares(method, p, q, body);
    if (method === "GET" && p === "/protocols/cifs/session/files") {
      // One open file per session entry: what a session has open tells which share it uses.
      const s = this.svmOf(q);
      return collection(
        this.sessions
          .filter((x) => x.svm === s?.uuid && (!q["share.name"] || queryMatches(x.share, q["share.name"])))
          .map((x, i) => ({
            node: { uuid: x.node },
            svm: { uuid: x.svm, name: s!.name },
            identifier: i + 1,
            session: { identifier: x.identifier },
            connection: { identifier: x.connection_id },
            share: { name: x.share },
          })),
      );
    }
    m = /^\/protocols\/cifs\/sessions\/([^/]+)\/([^/]+)\/(\d+)\/(\d+)$/.exec(p);
    if (method === "DELETE" && m) {
      const closing = (x: FakeOntap["sessions"][number]) =>
        x.node === m![1] && x.svm === m![2] && x.identifier === Number(m![3]) && x.connection_id === Number(m![4]);
      if (!this.sessions.some(closing)) throw notFound("session");
      for (let i = this.sessions.length - 1; i >= 0; i--) if (closing(this.sessions[i]!)) this.sessions.splice(i, 1);
      return { status: 200, body: {} };
    }
    if (method === "GET" && p === "/storage/volumes") {
      const s = this.svmOf(q);
      return collection(
        (s?.volumes ?? [])
          .filter((v) => !q["name"] || queryMatches(v.name, q["name"]))
          .map((v) => ({
            uuid: v.uuid,
            name: v.name,
            style: v.style,
            nas: { path: v.junction },
            svm: { uuid: v.svm.uuid, name: v.svm.name },
          })),
      );
    }
    if (method === "POST" && p === "/storage/file/clone") return this.clone(body, q, fault);
    if ((m = /^\/storage\/volumes\/([^/]+)\/files(?:\/(.*))?$/.exec(p)))
      return this.files(method, this.volByUuid(m[1]!), decodeURIComponent(m[2] ?? ""), q, body, fault);
    if ((m = /^\/storage\/volumes\/([^/]+)\/snapshots(?:\/([^/]+))?$/.exec(p)))
      return m[1] === "*" && method === "GET" && !m[2]
        ? this.allSnapshots(q)
        : this.snapshotCall(method, this.volByUuid(m[1]!), m[2], q, body, fault);
    throw new HttpError(400, `the fake does not serve ${method} ${p}`, "3");
  }

  private shareRecord(s: Svm, sh: Share) {
    const vol = s.volumes
      .filter((v) => underJunction(sh.path, v.junction))
      .sort((a, b) => b.junction.length - a.junction.length)[0];
    return {
      svm: { uuid: s.uuid, name: s.name },
      name: sh.name,
      path: sh.path,
      ...(vol ? { volume: { name: vol.name, uuid: vol.uuid } } : {}),
      acls: sh.acls.map((a) => ({ ...a })),
    };
  }

  private async shares(method: string, p: string, q: Record<string, string>, body: Record<string, unknown>) {
    if (method === "GET" && p === "/protocols/cifs/shares") {
      const s = this.svmOf(q);
      const records = (s?.shares ?? [])
        .filter((sh) => !q["name"] || queryMatches(sh.name, q["name"]))
        .map((sh) => this.shareRecord(s!, sh));
      return { status: 200, body: { records, num_records: records.length } };
    }
    if (method === "POST" && p === "/protocols/cifs/shares") {
      await sleep(this.latency.shareCreate);
      const s = this.svmOf({}, body);
      if (!s) throw new HttpError(400, "SVM not found", "2", "svm.uuid");
      const name = String(body["name"] ?? "");
      if (name.length < 1 || name.length > 80 || /[\u0000-\u001f"]/.test(name))
        throw new HttpError(
          400,
          `share name "${name}" is invalid: 1 to 80 characters, no control characters or quotes`,
          "655399",
          "name",
        );
      if (s.shares.some((x) => x.name.toLowerCase() === name.toLowerCase()))
        throw new HttpError(409, `share "${name}" already exists`, "1", "name");
      const nsPath = String(body["path"] ?? "");
      const vol = s.volumes
        .filter((v) => underJunction(nsPath, v.junction))
        .sort((a, b) => b.junction.length - a.junction.length)[0];
      const where = vol ? this.disk(vol, nsPath.slice(vol.junction.length)) : null;
      if (!where || !fs.statSync(where.file, { throwIfNoEntry: false })?.isDirectory())
        throw new HttpError(400, `path "${nsPath}" does not exist`, "655551", "path");
      const acls = (body["acls"] as FakeAcl[] | undefined) ?? [
        { user_or_group: "Everyone", type: "windows", permission: "full_control" },
      ];
      s.shares.push({ name, path: nsPath, acls: acls.map((a) => ({ ...a })) });
      return { status: 201, body: {} };
    }
    // Names in the path are URL-encoded (share1%40%7B...%7D, BUILTIN%5CAdministrators).
    const dec = (x: RegExpExecArray | null) => x?.map((g) => decodeURIComponent(g)) ?? null;
    let m = dec(/^\/protocols\/cifs\/shares\/([^/]+)\/([^/]+)\/acls\/([^/]+)\/([^/]+)$/.exec(p));
    if (method === "PATCH" && m) {
      await sleep(this.latency.aclPatch);
      const s = this.svms.find((x) => x.uuid === m![1]);
      const sh = s?.shares.find((x) => x.name.toLowerCase() === m![2]!.toLowerCase());
      const acl = sh?.acls.find((a) => a.user_or_group === m![3] && a.type === m![4]);
      if (!acl) throw notFound("share ACL");
      acl.permission = String(body["permission"]) as FakeAcl["permission"];
      return { status: 200, body: {} };
    }
    m = dec(/^\/protocols\/cifs\/shares\/([^/]+)\/([^/]+)$/.exec(p));
    if (method === "DELETE" && m) {
      await sleep(this.latency.shareDelete);
      const s = this.svms.find((x) => x.uuid === m![1]);
      const i = s?.shares.findIndex((x) => x.name.toLowerCase() === m![2]!.toLowerCase()) ?? -1;
      if (i < 0) throw notFound("share", "name");
      s!.shares.splice(i, 1);
      return { status: 200, body: {} };
    }
    throw new HttpError(400, `the fake does not serve ${method} ${p}`, "3");
  }

  private entry(vol: Volume, dirRel: string, name: string, st: fs.Stats | fs.Dirent, size?: number) {
    const junction = st.isDirectory() && this.junctionAt(vol, path.posix.join(dirRel, name)) !== undefined;
    return { name, path: dirRel, type: typeOf(st), size: size ?? (st as fs.Stats).size, is_junction: junction };
  }

  private async files(
    method: string,
    vol: Volume,
    rel: string,
    q: Record<string, string>,
    body: Record<string, unknown>,
    fault: Fault | null,
  ) {
    const { file, readOnly } = this.disk(vol, rel);
    if (method === "GET") {
      const junction = rel !== "" ? this.junctionAt(vol, rel) : undefined;
      const missing = () => new HttpError(404, `no such file or directory "${rel}"`, "131074", "path");
      const one = (st: fs.Stats) => ({
        status: 200,
        body: { records: [this.entry(vol, path.posix.dirname(rel), path.posix.basename(rel), st)], num_records: 1 },
      });
      if (q["return_metadata"] === "true") {
        const st = fs.lstatSync(file, { throwIfNoEntry: false });
        if (!st && !junction) throw missing();
        const rec = st
          ? { ...this.entry(vol, path.posix.dirname(rel), path.posix.basename(rel), st), name: "", path: rel }
          : { name: "", path: rel, type: "directory", size: 4096, is_junction: true };
        return { status: 200, body: { records: [rec], num_records: 1 } };
      }
      let entries: fs.Dirent[] = [];
      try {
        entries = fs.readdirSync(file, { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOTDIR") return one(fs.lstatSync(file));
        if (code !== "ENOENT" || !junction) throw missing();
      }
      // The name and type filters and fields= as ONTAP reads them: a file is stat'ed only for its size.
      const match = (name: string, type: string) =>
        (!q["name"] || queryMatches(name, q["name"])) && (!q["type"] || queryMatches(type, q["type"]));
      const sized = wants(q["fields"], "size");
      const records: unknown[] = [];
      for (const name of [".", ".."])
        if (match(name, "directory")) records.push({ name, path: rel, type: "directory", size: 4096 });
      const listed = entries.filter((e) => match(e.name, typeOf(e)));
      const sizes = sized
        ? listed.map((e) => fs.lstatSync(path.join(file, e.name), { throwIfNoEntry: false })?.size ?? null)
        : [];
      listed.forEach((e, i) => {
        if (!sized || sizes[i] !== null) records.push(this.entry(vol, rel, e.name, e, sized ? sizes[i]! : 4096));
      });
      // A volume mounted below this directory shows as a junction whether or not a directory is there.
      for (const v of vol.svm.volumes) {
        if (v === vol || path.posix.dirname(v.junction) !== path.posix.join(vol.junction, rel)) continue;
        const name = path.posix.basename(v.junction);
        if (match(name, "directory") && !records.some((r) => (r as { name: string }).name === name))
          records.push({ name, path: rel, type: "directory", size: 4096, is_junction: true });
      }
      return { status: 200, body: { records, num_records: records.length } };
    }
    if (readOnly) throw new HttpError(403, `"${rel}" is in a snapshot: read-only file system`, "131102", "path");
    if (method === "POST") {
      if (body["type"] !== "directory") throw new HttpError(400, "the fake makes directories only", "2", "type");
      const code = fsCode(() => fs.mkdirSync(file));
      if (code === "EEXIST") throw new HttpError(409, `"${rel}" already exists`, "1", "path");
      if (code === "ENOENT" || code === "ENOTDIR")
        throw new HttpError(404, `parent of "${rel}" does not exist`, "131074", "path");
      if (code !== null) throw new Error(`mkdir ${rel}: ${code}`);
      return { status: 201, body: {} };
    }
    if (method === "DELETE") {
      const gone = () => new HttpError(404, `no such file or directory "${rel}"`, "131074", "path");
      // Removing a tree takes a job; a file or an empty directory goes at once.
      if (q["recurse"] !== "true" && fault === null) {
        const code = fsCode(() => fs.rmdirSync(file));
        if (code === "ENOTDIR") fs.unlinkSync(file);
        else if (code === "ENOENT") throw gone();
        else if (code === "ENOTEMPTY") throw new HttpError(400, `directory "${rel}" is not empty`, "131138", "path");
        else if (code !== null) throw new Error(`rmdir ${rel}: ${code}`);
        return { status: 200, body: {} };
      }
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (!st) throw gone();
      if (st.isDirectory() && q["recurse"] !== "true" && fs.readdirSync(file).length > 0)
        throw new HttpError(400, `directory "${rel}" is not empty`, "131138", "path");
      return this.job(`DELETE files ${rel}`, this.latency.fileDelete, () => removeTree(file), q, fault, 200);
    }
    throw new HttpError(400, `the fake does not serve ${method} on files`, "3");
  }

  private async clone(body: Record<string, unknown>, q: Record<string, string>, fault: Fault | null) {
    const volume = body["volume"] as { uuid?: string } | undefined;
    if (!volume?.uuid) throw new HttpError(400, "volume.uuid is required", "2", "volume.uuid");
    const vol = this.volByUuid(volume.uuid);
    if (vol.style === "flexgroup")
      throw new HttpError(
        400,
        "REST support for sis clone creation for Flex Group volumes is blocked",
        "13172",
        "volume",
      );
    const src = this.disk(vol, String(body["source_path"] ?? ""));
    const dst = this.disk(vol, String(body["destination_path"] ?? ""));
    if (dst.readOnly) throw new HttpError(400, "destination_path is in a snapshot", "131102", "destination_path");
    return this.job(
      "POST /api/storage/file/clone",
      this.latency.clone,
      () => {
        const overwrite = body["overwrite_destination"] === true;
        // A new file is cloned in place; a replaced one next to it first, so a reader sees one or the other.
        const to = overwrite ? `${dst.file}.fake-clone-${randomUUID().slice(0, 8)}` : dst.file;
        const code = fsCode(() =>
          fs.copyFileSync(src.file, to, fs.constants.COPYFILE_FICLONE | (overwrite ? 0 : fs.constants.COPYFILE_EXCL)),
        );
        if (code === "EEXIST")
          throw new HttpError(409, `destination "${String(body["destination_path"])}" already exists`, "1");
        if (code !== null) {
          if (!fs.lstatSync(src.file, { throwIfNoEntry: false })?.isFile())
            throw new HttpError(404, `source "${String(body["source_path"])}" is not a file`, "131074");
          // ONTAP's gotcha: a destination directory that does not exist makes the job succeed with nothing made.
          if (code === "ENOENT" || code === "ENOTDIR") return;
          throw new Error(`clone ${String(body["source_path"])}: ${code}`);
        }
        if (overwrite) fs.renameSync(to, dst.file);
      },
      q,
      fault,
      201,
    );
  }

  private snapshotRecords(vol: Volume, q: Record<string, string>) {
    return (this.snapshots.get(vol.uuid) ?? [])
      .filter((s) => !q["name"] || queryMatches(s.name, q["name"]))
      .map((s) => ({
        uuid: s.uuid,
        name: s.name,
        comment: s.comment,
        create_time: s.createTime,
        state: "valid",
        volume: { uuid: vol.uuid, name: vol.name },
        svm: { uuid: vol.svm.uuid, name: vol.svm.name },
      }));
  }

  /** GET /storage/volumes/*\/snapshots: the snapshots of every volume, or of an SVM's (svm.name, svm.uuid). */
  private allSnapshots(q: Record<string, string>) {
    const svms = q["svm.name"] !== undefined || q["svm.uuid"] !== undefined ? [this.svmOf(q)] : this.svms;
    const records = svms.flatMap((s) => (s?.volumes ?? []).flatMap((v) => this.snapshotRecords(v, q)));
    return { status: 200, body: { records, num_records: records.length } };
  }

  private async snapshotCall(
    method: string,
    vol: Volume,
    uuid: string | undefined,
    q: Record<string, string>,
    body: Record<string, unknown>,
    fault: Fault | null,
  ) {
    const list = this.snapshots.get(vol.uuid) ?? [];
    this.snapshots.set(vol.uuid, list);
    if (method === "GET" && !uuid) {
      const records = this.snapshotRecords(vol, q);
      return { status: 200, body: { records, num_records: records.length } };
    }
    if (method === "POST" && !uuid) {
      const name = String(body["name"] ?? "");
      if (name === "" || name.length > 255) throw new HttpError(400, `snapshot name "${name}" is invalid`, "2", "name");
      return this.job(
        `POST /api/storage/volumes/${vol.uuid}/snapshots`,
        this.latency.snapshot,
        () => {
          if (list.some((s) => s.name === name))
            throw new HttpError(409, `snapshot "${name}" already exists`, "1638402");
          const dir = path.join(this.opts.root, "snapshots", vol.uuid, name);
          fs.mkdirSync(path.dirname(dir), { recursive: true });
          copyTree(vol.dir, dir);
          list.push({ uuid: randomUUID(), name, comment: String(body["comment"] ?? ""), createTime: now(), dir });
        },
        q,
        fault,
        201,
      );
    }
    if (method === "DELETE" && uuid) {
      const i = list.findIndex((s) => s.uuid === uuid);
      if (i < 0) throw notFound("snapshot", "uuid");
      const snap = list[i]!;
      return this.job(
        `DELETE /api/storage/volumes/${vol.uuid}/snapshots/${uuid}`,
        this.latency.snapshotDelete,
        () => {
          list.splice(list.indexOf(snap), 1);
          removeTree(snap.dir);
        },
        q,
        fault,
        200,
      );
    }
    throw new HttpError(400, `the fake does not serve ${method} on snapshots`, "3");
  }
}
