/**
 * The ontap backend against the fake ONTAP: real HTTPS with a test CA, real files behind it, every
 * storage operation, ONTAP's gotchas and injected faults, and the bad input of issue 16, each
 * checked on the fake's files and call log.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { isRvssError, exposedShareName, snapshotName } from "@rvss/core";
import { OntapBackend, SvmRouter, openFiler, parseOntapConfig } from "@rvss/storage";
import {
  SAMPLE_VM_FILES,
  createSampleFiler,
  fillSampleShare,
  makeTestPki,
  sampleBytes,
  sampleOntapSvm,
  startOntapFiler,
  type OntapFiler,
  type TestPki,
} from "@rvss/testkit";

let dir: string;
let pki: TestPki;
let filer: OntapFiler;
let backend: OntapBackend;
let shareDir: string;
const files = SAMPLE_VM_FILES.map(([f]) => f);
const ID = "6f1d7c4e-0000-4000-8000-1a2b3c4d5e6f";
const LONG = "s".repeat(42);

/** A copy of the filer description whose cluster has `fields` changed. */
function withCluster(name: string, fields: Record<string, unknown>): string {
  const cfg = JSON.parse(fs.readFileSync(filer.configPath, "utf8"));
  Object.assign(cfg.clusters[0], fields);
  const file = path.join(dir, "f1", `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(cfg));
  return file;
}

function open(configPath: string): OntapBackend {
  return openFiler(configPath, "local") as OntapBackend;
}

async function failure(
  p: Promise<unknown>,
): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (isRvssError(err)) return { code: err.code, message: err.message, details: err.details };
    throw err;
  }
  throw new Error("expected a failure");
}

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-ontap-"));
  pki = makeTestPki(path.join(dir, "pki"));
  // Pages of 3 records: every listing rvss reads spans pages it must follow (_links.next).
  filer = await startOntapFiler(path.join(dir, "f1"), {
    pki,
    pageSize: 3,
    svms: [
      sampleOntapSvm("vs1", {
        cifsServer: "HVFILER1",
        volumes: [
          { name: "vm_vol1", junction: "/hyperv/vm1" },
          { name: "inner_vol", junction: "/hyperv/vm1/dir2/inner" },
          { name: "fg_vol", junction: "/fg", style: "flexgroup" },
        ],
        shares: [
          ...sampleOntapSvm("vs1").shares,
          { name: "mounts", path: "/hyperv/vm1/dir2" },
          { name: "fgshare", path: "/fg" },
          { name: LONG, path: "/hyperv/vm1/dir1" },
        ],
      }),
      sampleOntapSvm("vs2", { shadowcopy: false }),
    ],
  });
  shareDir = await fillSampleShare(filer.fake, "vs1");
  await fsp.mkdir(path.join(filer.fake.volumeDir("vs1", "vm_vol1"), "dir2", "vm3"), { recursive: true });
  backend = open(filer.configPath);
});

afterAll(async () => {
  await backend.close();
  await filer.stop();
  await fsp.rm(dir, { recursive: true, force: true });
});

beforeEach(() => filer.fake.clearFaults());

const copyDir = (id: string) => path.join(filer.fake.volumeDir("vs1", "vm_vol1"), ".rvss", id);
const clones = () => filer.fake.calls.filter((c) => c.method === "POST" && c.path === "/storage/file/clone").length;

test("a share resolves to its volume and path; preflight reads ONTAP's shadow copy depth and walks the files API", async () => {
  const r = await backend.resolveShare("vs1", "share1");
  expect(r).toEqual({
    svm: "vs1",
    share: "share1",
    volume: "vm_vol1",
    sharePath: "dir1/vmdir",
    junctionPath: "/hyperv/vm1",
    namespacePath: "/hyperv/vm1/dir1/vmdir",
    junctionsBelow: [],
    shadowCopyDirDepth: 5,
  });
  const entries = [];
  for await (const batch of backend.walkShare(r)) entries.push(...batch);
  expect(
    entries
      .filter((e) => e.kind === "file")
      .map((e) => [e.path, e.depth])
      .sort(),
  ).toEqual(files.map((f) => [f, 2]).sort());
  expect(await backend.checkFiles(r, [files[0]!, "vm1/nope.vhdx", "vm1"])).toEqual([
    {
      path: "vm1/nope.vhdx",
      rule: "file-not-found",
      message: 'file "vm1/nope.vhdx" does not exist in share "share1" of SVM "vs1"',
    },
    {
      path: "vm1",
      rule: "file-not-regular",
      message: '"vm1" in share "share1" of SVM "vs1" is a directory, not a regular file',
    },
  ]);
  // Special files are reported with their kind, for the layout rules.
  const pipe = path.join(shareDir, "vm1", "pipe");
  execFileSync("mkfifo", [pipe]);
  try {
    const kinds = [];
    for await (const batch of backend.walkShare(r))
      kinds.push(...batch.filter((e) => e.kind !== "file" && e.kind !== "directory"));
    expect(kinds).toEqual([{ path: "vm1/pipe", kind: "fifo", depth: 1 }]);
  } finally {
    fs.rmSync(pipe);
  }
  expect(await backend.svmNames("vs1")).toEqual(["vs1", "HVFILER1"]);
  expect(await backend.svmNames("vs9")).toBeNull();
  expect(filer.fake.calls.some((c) => "start.index" in c.query)).toBe(true);
  const mounts = await backend.resolveShare("vs1", "mounts");
  expect(mounts.junctionsBelow).toEqual(["/hyperv/vm1/dir2/inner"]);
  const kinds = [];
  for await (const batch of backend.walkShare(mounts)) kinds.push(...batch.map((e) => `${e.path}:${e.kind}`));
  expect(kinds.sort()).toEqual(["inner:junction", "vm3:directory"]);
});

test("a shadow copy is made of file clones read back, once however often it is asked for, exposed with the base ACLs, sealed, snapshotted, removed and restored byte for byte", async () => {
  const share = { svm: "vs1", share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir" };
  const before = clones();
  const info = await backend.createShadowCopy({ svm: "vs1", shadowCopyId: ID, share, files, writable: true });
  expect(info).toEqual({ clonePath: `.rvss/${ID}`, bytes: 1024 * 1024 + 64 * 1024 + 512 * 1024, fileCount: 3 });
  // Delivered again: nothing is cloned twice.
  await Promise.all(
    [1, 2].map(() => backend.createShadowCopy({ svm: "vs1", shadowCopyId: ID, share, files, writable: true })),
  );
  expect(clones() - before).toBe(3);
  for (const f of files)
    expect(fs.readFileSync(path.join(copyDir(ID), f)).equals(fs.readFileSync(path.join(shareDir, f)))).toBe(true);

  const name = exposedShareName("share1", ID);
  const exposed = await backend.exposeShadowCopy({
    svm: "vs1",
    volume: "vm_vol1",
    shadowCopyId: ID,
    baseShare: "share1",
    exposedName: name,
    writable: true,
  });
  expect(exposed.accessPath).toBe(`\\\\HVFILER1\\${name}`);
  await backend.exposeShadowCopy({
    svm: "vs1",
    volume: "vm_vol1",
    shadowCopyId: ID,
    baseShare: "share1",
    exposedName: name,
    writable: true,
  });
  expect(filer.fake.share("vs1", name)).toEqual({
    name,
    path: `/hyperv/vm1/.rvss/${ID}`,
    acls: filer.fake.share("vs1", "share1")!.acls,
  });
  expect(await backend.listExposedShares("vs1")).toEqual([{ svm: "vs1", name, volume: "vm_vol1", shadowCopyId: ID }]);

  const svmUuid = filer.fake.uuidOf("vs1");
  filer.fake.sessions.push({ node: "n1", svm: svmUuid, identifier: 7, connection_id: 91, share: name });
  await backend.sealShadowCopy({ svm: "vs1", volume: "vm_vol1", shadowCopyId: ID });
  expect(filer.fake.share("vs1", name)!.acls.map((a) => a.permission)).toEqual(["read", "read"]);
  expect(filer.fake.sessions).toEqual([]);

  const snap = snapshotName(
    "a0000000-0000-4000-8000-000000000001",
    "b0000000-0000-4000-8000-000000000002",
    Date.UTC(2026, 11, 1),
  );
  const taken = await backend.createSnapshot({ svm: "vs1", volume: "vm_vol1", name: snap });
  expect(taken.createdAt).toBeGreaterThan(0);
  await backend.createSnapshot({ svm: "vs1", volume: "vm_vol1", name: snap });
  expect(filer.fake.snapshotNames("vs1", "vm_vol1")).toEqual([snap]);
  expect((await backend.listSnapshots("vs1")).map((s) => `${s.volume}@${s.name}`)).toEqual([`vm_vol1@${snap}`]);

  await backend.deleteShadowCopy({ svm: "vs1", volume: "vm_vol1", shadowCopyId: ID });
  await backend.deleteShadowCopy({ svm: "vs1", volume: "vm_vol1", shadowCopyId: ID });
  expect([fs.existsSync(copyDir(ID)), filer.fake.share("vs1", name)]).toEqual([false, undefined]);
  expect([await backend.listShadowCopies("vs1"), await backend.listExposedShares("vs1")]).toEqual([[], []]);

  // Restore into the share, in place: the live file was damaged after the backup.
  fs.writeFileSync(path.join(shareDir, files[0]!), "damaged");
  const job = {
    snapshot: { svm: "vs1", volume: "vm_vol1", name: snap },
    shadowCopyId: ID,
    files: [],
    target: { kind: "share", svm: "vs1", share: "share1" } as const,
  };
  // Without overwrite the files there are kept, and nothing is cloned.
  const refused = await failure(backend.restore({ ...job, overwrite: false }));
  expect([refused.code, refused.message]).toEqual([
    "FILE_EXISTS",
    expect.stringMatching(
      /^3 files exist in share "share1" of SVM "vs1" \(cluster "cluster1"\): .*restore with overwrite/,
    ),
  ]);
  expect(fs.readFileSync(path.join(shareDir, files[0]!), "utf8")).toBe("damaged");
  const progress: number[] = [];
  const restored = await backend.restore({ ...job, overwrite: true, onProgress: (p) => progress.push(p.files) });
  expect(progress).toEqual([1, 2, 3]);
  expect(restored.map((f) => [f.path, f.bytes])).toEqual([...SAMPLE_VM_FILES].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  expect(
    fs.readFileSync(path.join(shareDir, files[0]!)).equals(sampleBytes(`vs1/${files[0]}`, SAMPLE_VM_FILES[0]![1])),
  ).toBe(true);
  const toDir = await failure(
    backend.restore({
      snapshot: { svm: "vs1", volume: "vm_vol1", name: snap },
      shadowCopyId: ID,
      files: [],
      target: { kind: "directory", path: "/tmp/x", root: "/tmp" },
      overwrite: false,
    }),
  );
  expect(toDir.code).toBe("INVALID_ARGUMENT");

  await backend.deleteSnapshot({ svm: "vs1", volume: "vm_vol1", name: snap });
  await backend.deleteSnapshot({ svm: "vs1", volume: "vm_vol1", name: snap });
  expect(filer.fake.snapshotNames("vs1", "vm_vol1")).toEqual([]);
});

test("what a set's shares look up together goes out as one query, and a job held by return_timeout is not polled", async () => {
  const calls = (m: string, p: RegExp) => filer.fake.calls.filter((c) => c.method === m && p.test(c.path)).length;
  const shareQueries = calls("GET", /^\/protocols\/cifs\/shares$/);
  const resolved = await Promise.all(["share1", "mounts", "SHARE1"].map((n) => backend.resolveShare("vs1", n)));
  expect(resolved.map((r) => r.share)).toEqual(["share1", "mounts", "share1"]);
  expect(calls("GET", /^\/protocols\/cifs\/shares$/) - shareQueries).toBe(1);
  const asked = filer.fake.calls.filter((c) => c.path === "/protocols/cifs/shares").at(-1)!.query["name"]!;
  expect(asked.split("|").sort()).toEqual(["SHARE1", "mounts", "share1"]);

  const share = { svm: "vs1", share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir" };
  const ids = ["6f1d7c4e-0000-4000-8000-0000000002a1", "6f1d7c4e-0000-4000-8000-0000000002a2"];
  const polls = calls("GET", /^\/cluster\/jobs\//);
  await Promise.all(
    ids.map((id) => backend.createShadowCopy({ svm: "vs1", shadowCopyId: id, share, files, writable: true })),
  );
  expect(calls("GET", /^\/cluster\/jobs\//) - polls).toBe(0);
  const exposedQueries = calls("GET", /^\/protocols\/cifs\/shares$/);
  const doneReads = calls("GET", /\/files\/\.rvss$/);
  await Promise.all(
    ids.map((id) =>
      backend.exposeShadowCopy({
        svm: "vs1",
        volume: "vm_vol1",
        shadowCopyId: id,
        baseShare: "share1",
        exposedName: exposedShareName("share1", id),
        writable: true,
      }),
    ),
  );
  // One read of both copies' .done marks, one of the base share's ACLs.
  expect([
    calls("GET", /\/files\/\.rvss$/) - doneReads,
    calls("GET", /^\/protocols\/cifs\/shares$/) - exposedQueries,
  ]).toEqual([1, 1]);
  const before = calls("GET", /^\/protocols\/cifs\/shares$/);
  await Promise.all(ids.map((id) => backend.sealShadowCopy({ svm: "vs1", volume: "vm_vol1", shadowCopyId: id })));
  await Promise.all(ids.map((id) => backend.deleteShadowCopy({ svm: "vs1", volume: "vm_vol1", shadowCopyId: id })));
  // The seal's and the removal's lookups of both copies' exposed shares: one query each.
  expect(calls("GET", /^\/protocols\/cifs\/shares$/) - before).toBe(2);
  expect(filer.fake.shareNames("vs1").filter((n) => n.includes("@{"))).toEqual([]);
});

test("a whole-share copy clones every file; a read-only copy is exposed read-only", async () => {
  const id = "6f1d7c4e-0000-4000-8000-00000000000a";
  const share = { svm: "vs1", share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir" };
  expect(
    (await backend.createShadowCopy({ svm: "vs1", shadowCopyId: id, share, files: [], writable: false })).fileCount,
  ).toBe(3);
  const name = exposedShareName("share1", id);
  await backend.exposeShadowCopy({
    svm: "vs1",
    volume: "vm_vol1",
    shadowCopyId: id,
    baseShare: "share1",
    exposedName: name,
    writable: false,
  });
  expect(filer.fake.share("vs1", name)!.acls.map((a) => a.permission)).toEqual(["read", "read"]);
  await backend.deleteShadowCopy({ svm: "vs1", volume: "vm_vol1", shadowCopyId: id });
  expect(fs.existsSync(copyDir(id))).toBe(false);
});

describe("ONTAP's gotchas and injected faults", () => {
  const share = { svm: "vs1", share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir" };
  const id = (n: number) => `6f1d7c4e-0000-4000-8000-0000000001${String(n).padStart(2, "0")}`;
  afterEach(async () => {
    filer.fake.clearFaults();
    for (const c of await backend.listShadowCopies("vs1")) await backend.deleteShadowCopy(c);
  });

  test("a clone ONTAP accepts and never makes fails the copy, naming the file, and a later run finishes it", async () => {
    filer.fake.inject({ method: "POST", path: /^\/storage\/file\/clone$/, kind: "noop" });
    const f = await failure(
      backend.createShadowCopy({ svm: "vs1", shadowCopyId: id(1), share, files, writable: true }),
    );
    expect(f.code).toBe("STORAGE_FAILED");
    expect(f.message).toMatch(
      /cloning "vm1\/.*" \(SVM "vs1", cluster "cluster1"\): ONTAP accepted the clone of .* but the destination does not exist/,
    );
    expect((await backend.listShadowCopies("vs1")).map((c) => c.shadowCopyId)).toEqual([id(1)]);
    await expect(
      backend.exposeShadowCopy({
        svm: "vs1",
        volume: "vm_vol1",
        shadowCopyId: id(1),
        baseShare: "share1",
        exposedName: exposedShareName("share1", id(1)),
        writable: true,
      }),
    ).rejects.toThrow(/does not exist/);
    expect(
      (await backend.createShadowCopy({ svm: "vs1", shadowCopyId: id(1), share, files, writable: true })).fileCount,
    ).toBe(3);
  });

  test("a job whose UUID answers 404 while it still works is confirmed by reading its result back", async () => {
    // The jobs outlast the answer: the first read-back finds nothing yet.
    filer.fake.setLatency({ clone: 600, fileDelete: 600 });
    try {
      filer.fake.inject({ method: "POST", path: /^\/storage\/file\/clone$/, kind: "job-404", times: 3 });
      expect(
        (await backend.createShadowCopy({ svm: "vs1", shadowCopyId: id(2), share, files, writable: true })).fileCount,
      ).toBe(3);
      filer.fake.inject({ method: "DELETE", path: /\/files\/\.rvss\/[^/]+$/, kind: "job-404", times: 2 });
      await backend.deleteShadowCopy({ svm: "vs1", volume: "vm_vol1", shadowCopyId: id(2) });
      expect(fs.existsSync(copyDir(id(2)))).toBe(false);
    } finally {
      filer.fake.setLatency({ clone: 0, fileDelete: 0 });
    }
  });

  test("a failing job ends the call with ONTAP's message and code, naming cluster, SVM and object", async () => {
    filer.fake.inject({
      method: "POST",
      path: /\/snapshots$/,
      kind: "job-failure",
      message: "volume is busy",
      code: 524486,
    });
    const f = await failure(backend.createSnapshot({ svm: "vs1", volume: "vm_vol1", name: "rvss_failing" }));
    expect(f.message).toMatch(
      /^taking snapshot "rvss_failing" \(SVM "vs1", cluster "cluster1"\): the job of POST \/api\/storage\/volumes\/.*\/snapshots\?return_timeout=15 failed: "volume is busy" \(error 524486\)$/,
    );
    expect(f.details).toMatchObject({
      svm: "vs1",
      cluster: "cluster1",
      volume: "vm_vol1",
      snapshot: "rvss_failing",
      ontapCode: "524486",
      ontapMessage: "volume is busy",
    });
    expect(filer.fake.snapshotNames("vs1", "vm_vol1")).toEqual([]);
  });

  test("5xx answers and dropped connections of idempotent calls are retried; a write is re-read first", async () => {
    filer.fake.inject({ method: "GET", path: /^\/protocols\/cifs\/shares$/, kind: "status", status: 503, times: 1 });
    filer.fake.inject({ method: "GET", path: /^\/storage\/volumes$/, kind: "drop", times: 1 });
    expect((await backend.resolveShare("vs1", "share1")).volume).toBe("vm_vol1");
    filer.fake.inject({ method: "POST", path: /^\/storage\/file\/clone$/, kind: "status", status: 500, times: 1 });
    const before = clones();
    expect(
      (await backend.createShadowCopy({ svm: "vs1", shadowCopyId: id(3), share, files: [files[0]!], writable: true }))
        .fileCount,
    ).toBe(1);
    expect(clones() - before).toBe(2);
  });

  test("a slow answer only delays", async () => {
    filer.fake.inject({ method: "GET", path: /^\/protocols\/cifs\/shares$/, kind: "slow", ms: 300 });
    const slow = open(filer.configPath);
    try {
      const t0 = Date.now();
      expect((await slow.resolveShare("vs1", "share1")).volume).toBe("vm_vol1");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    } finally {
      await slow.close();
    }
  });

  test("a job longer than return_timeout is polled to its end; one longer than jobTimeoutMs fails naming it", async () => {
    filer.fake.setLatency({ clone: 1500 });
    const polling = open(withCluster("polling", { returnTimeoutS: 0 }));
    const ceiling = open(withCluster("ceiling", { returnTimeoutS: 0, jobTimeoutMs: 1000 }));
    try {
      const polls = () => filer.fake.calls.filter((c) => c.path.startsWith("/cluster/jobs/")).map((c) => c.path);
      const before = polls().length;
      const one = { svm: "vs1", shadowCopyId: id(4), share, files: [files[1]!], writable: true };
      expect((await polling.createShadowCopy(one)).fileCount).toBe(1);
      // The clone's job was asked after more than once: it ran while the first polls came.
      const clonePolls = polls().slice(before);
      expect(clonePolls.length).toBeGreaterThan(new Set(clonePolls).size);
      const f = await failure(ceiling.createShadowCopy({ ...one, shadowCopyId: id(5) }));
      expect([f.code, f.message]).toEqual([
        "TIMEOUT",
        expect.stringMatching(
          /cloning .*: the job of POST \/api\/storage\/file\/clone is still running after 1000 ms$/,
        ),
      ]);
      expect(f.details["job"]).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      filer.fake.setLatency({ clone: 0 });
      await polling.close();
      await ceiling.close();
    }
  });
});

describe("bad input ends with an error naming the cluster, the SVM and the object, and leaves nothing", () => {
  test.each([
    [
      "an SVM ONTAP does not know",
      "vs9",
      "share1",
      "SVM_NOT_FOUND",
      /SVM "vs9" is not an ONTAP SVM of .*filer\.json \(known: vs1, vs2\)/,
    ],
    [
      "a share ONTAP does not know",
      "vs1",
      "nope",
      "SHARE_NOT_FOUND",
      /share "nope" does not exist on SVM "vs1" \(cluster "cluster1"; known: share1, mounts, fgshare, s+\)/,
    ],
    ["a FlexGroup volume", "vs1", "fgshare", "INVALID_ARGUMENT", /lies on FlexGroup volume "fg_vol"/],
    [
      "a share name too long for share@{GUID}",
      "vs1",
      LONG,
      "INVALID_ARGUMENT",
      /would be 81 characters, ONTAP allows 80/,
    ],
    [
      "shadow copies turned off",
      "vs2",
      "share1",
      "INVALID_ARGUMENT",
      /SVM "vs2" \(cluster "cluster1"\) has shadow copies turned off/,
    ],
  ])("%s", async (_what, svm, share, code, message) => {
    const f = await failure(backend.resolveShare(svm, share));
    expect([f.code, f.message]).toEqual([code, expect.stringMatching(message)]);
  });

  test("a snapshot name that exists and rvss did not make", async () => {
    const made = await backend.createSnapshot({ svm: "vs1", volume: "vm_vol1", name: "nightly.0" });
    expect(made.name).toBe("nightly.0");
    // Someone else's snapshot of that name: not ours to take over.
    const other = open(filer.configPath);
    filer.fake.setSnapshotComment("vs1", "vm_vol1", "nightly.0", "daily");
    const f = await failure(other.createSnapshot({ svm: "vs1", volume: "vm_vol1", name: "nightly.0" }));
    expect(f.message).toBe(
      'snapshot "nightly.0" already exists on volume "vm_vol1" of SVM "vs1" (cluster "cluster1") and rvss did not make it',
    );
    await other.close();
    await backend.deleteSnapshot({ svm: "vs1", volume: "vm_vol1", name: "nightly.0" });
    const bad = await failure(backend.createSnapshot({ svm: "vs1", volume: "vm_vol1", name: "rvss snap/1" }));
    expect(bad.code).toBe("INVALID_ARGUMENT");
  });

  test("wrong credentials: 401 is a configuration error and the password appears nowhere", async () => {
    const wrong = await startOntapFiler(path.join(dir, "f2"), {
      pki,
      svms: [sampleOntapSvm("vs1")],
      password: "not-the-password",
    });
    const b = open(wrong.configPath);
    try {
      const f = await failure(b.resolveShare("vs1", "share1"));
      expect(f.code).toBe("CONFIG_INVALID");
      expect(f.message).toMatch(
        /^reading share "share1" \(SVM "vs1", cluster "cluster1"\): GET \/api\/protocols\/cifs\/shares\?.* answered HTTP 401: "not authenticated" \(error 6\) \(the user name or password in the filer description is wrong\)$/,
      );
      expect(JSON.stringify(f)).not.toMatch(/not-the-password|fake-ontap-secret|Basic /);
    } finally {
      await b.close();
      await wrong.stop();
    }
  });

  test("an SVM the cluster does not know", async () => {
    const cfg = JSON.parse(fs.readFileSync(filer.configPath, "utf8"));
    cfg.svms.push({ name: "ghost", backend: "ontap", cluster: "cluster1", svm: "svm_ghost" });
    const file = path.join(dir, "f1", "ghost.json");
    fs.writeFileSync(file, JSON.stringify(cfg));
    const b = open(file);
    try {
      const f = await failure(b.resolveShare("ghost", "share1"));
      expect([f.code, f.message]).toEqual([
        "SVM_NOT_FOUND",
        `SVM "svm_ghost" does not exist on ONTAP cluster "cluster1" (SVM "ghost" of ${file})`,
      ]);
    } finally {
      await b.close();
    }
  });

  test("an unreachable cluster fails after its attempts, naming every address tried", async () => {
    const cfg = JSON.parse(fs.readFileSync(filer.configPath, "utf8"));
    cfg.clusters[0].addresses = ["127.0.0.1:1", "127.0.0.1:2"];
    const file = path.join(dir, "f1", "unreachable.json");
    fs.writeFileSync(file, JSON.stringify(cfg));
    const b = open(file);
    try {
      const f = await failure(b.resolveShare("vs1", "share1"));
      expect([f.code, f.message]).toEqual([
        "STORAGE_FAILED",
        expect.stringMatching(
          /cluster "cluster1"\): the connection failed \(127\.0\.0\.1:1: .*; 127\.0\.0\.1:2: .*\), after 3 attempt\(s\)$/,
        ),
      ]);
    } finally {
      await b.close();
    }
  });

  test("an untrusted cluster certificate names the caFile", async () => {
    const cfg = JSON.parse(fs.readFileSync(filer.configPath, "utf8"));
    delete cfg.clusters[0].caFile;
    const file = path.join(dir, "f1", "untrusted.json");
    fs.writeFileSync(file, JSON.stringify(cfg));
    const b = open(file);
    try {
      expect((await failure(b.resolveShare("vs1", "share1"))).message).toMatch(/is not trusted .*"caFile"/);
    } finally {
      await b.close();
    }
  });
});

test("local and ONTAP SVMs in one filer description: each call goes to its SVM's backend", async () => {
  const local = await createSampleFiler(path.join(dir, "mixed"));
  const sample = JSON.parse(fs.readFileSync(local.configPath, "utf8"));
  const ontap = JSON.parse(fs.readFileSync(filer.configPath, "utf8"));
  const file = path.join(dir, "mixed", "filer.json");
  fs.writeFileSync(
    file,
    JSON.stringify({
      root: sample.root,
      clusters: ontap.clusters.map((c: Record<string, string>) => ({
        ...c,
        passwordFile: path.join(dir, "f1", c["passwordFile"]!),
      })),
      svms: [...sample.svms, { name: "hv-prod", backend: "ontap", cluster: "cluster1", svm: "vs1" }],
    }),
  );
  const both = openFiler(file, "local");
  try {
    expect(both.kind).toBe("local+ontap");
    expect(await both.listSvms()).toEqual(["vs1", "hv-prod"]);
    expect((await both.resolveShare("vs1", "share1")).junctionPath).toBe("/hyperv/vm1");
    const r = await both.resolveShare("hv-prod", "share1");
    expect([r.svm, r.volume, r.sharePath]).toEqual(["hv-prod", "vm_vol1", "dir1/vmdir"]);
    expect(await both.svmNames("hv-prod")).toEqual(["hv-prod", "vs1", "HVFILER1"]);
    // Snapshots are verified where the SVM's backend keeps checksums (local), not on ONTAP.
    expect([await both.verifies!("vs1"), await both.verifies!("hv-prod")]).toEqual([true, false]);
    expect((await both.capabilities!()).map((c) => [c.svm, c.volume])).toEqual([["vs1", "vm_vol1"]]);
  } finally {
    await (both as SvmRouter).close();
  }
});

test("certificate login: the client certificate of the test CA", async () => {
  const certFiler = await startOntapFiler(path.join(dir, "f3"), {
    pki,
    svms: [sampleOntapSvm("vs1")],
    auth: "certificate",
  });
  const b = open(certFiler.configPath);
  try {
    expect((await b.resolveShare("vs1", "share1")).volume).toBe("vm_vol1");
  } finally {
    await b.close();
    await certFiler.stop();
  }
});

test("the filer description: clusters and ONTAP SVMs, each error naming the field", () => {
  const file = path.join(dir, "f1", "filer.json");
  const parse = (doc: unknown) => () => parseOntapConfig(doc as Record<string, unknown>, file, "local");
  expect(parse({ svms: [{ name: "a", backend: "ontap", cluster: "c9" }] })).toThrow(
    /svms\[0\]\.cluster: cluster "c9" is not defined \(known: none\)/,
  );
  expect(parse({ clusters: [{ name: "c", addresses: ["h"], username: "u" }], svms: [] })).toThrow(
    /clusters\[0\]: give either "username" with "passwordFile", or "certFile" with "keyFile"/,
  );
  expect(parse({ clusters: [{ name: "c", addresses: ["h"], username: "u", passwordFile: "nope" }], svms: [] })).toThrow(
    /clusters\[0\]\.passwordFile: cannot read .*nope \(ENOENT\)/,
  );
  expect(parse({ svms: [{ name: "a", backend: "s3" }] })).toThrow(
    /svms\[0\]\.backend: "s3" must be "local" or "ontap"/,
  );
  const twice = path.join(dir, "f1", "twice.json");
  fs.writeFileSync(
    twice,
    JSON.stringify({
      root: "filer",
      clusters: [],
      svms: [
        { name: "vs1", volumes: [], shares: [] },
        { name: "vs1", backend: "ontap", cluster: "c" },
      ],
    }),
  );
  expect(() => openFiler(twice, "local")).toThrow(/svms\[1\]\.name: SVM "vs1" is defined twice/);
  const mixed = parseOntapConfig(JSON.parse(fs.readFileSync(filer.configPath, "utf8")), filer.configPath, "local");
  expect(mixed.svms).toEqual([
    { name: "vs1", cluster: "cluster1", svm: "vs1", aliases: [] },
    { name: "vs2", cluster: "cluster1", svm: "vs2", aliases: [] },
  ]);
  expect(mixed.clusters[0]).toMatchObject({ maxInFlight: 10, jobTimeoutMs: 120000, attempts: 3 });
  expect(
    execFileSync("stat", ["-c", "%a", path.join(dir, "f1", "cluster1.password")])
      .toString()
      .trim(),
  ).toBe("600");
});
