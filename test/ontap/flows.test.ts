/**
 * Every flow of the local backend with RVSS_STORAGE=ontap against the fake ONTAP: a managed backup
 * and restore, the FSRVP agent sequence with an abort in every state, kill -9 of the executor
 * mid-clone and mid-snapshot, and the reconciler removing an orphaned clone, share and snapshot.
 * Each SVM is used by one test only, so no FSRVP state leaks between tests.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { exposedShareName, snapshotName } from "@rvss/core";
import { PreflightClient } from "@rvss/client";
import { BackupState, VerificationState } from "@rvss/proto";
import { openFiler, type OntapBackend } from "@rvss/storage";
import { SAMPLE_VM_FILES, sampleBytes, testPki } from "@rvss/testkit";
import { CLIENT_SET_ID, HRESULT, driveTo, expectHResult, unc } from "../fsrvp/system";
import { startOntapSystem, until, type OntapSystem } from "./system";

const FILES = SAMPLE_VM_FILES.map(([f]) => f);
const SVMS = ["o1", "o2", "p1", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "k1", "k2", "r1"];
let sys: OntapSystem;
let backend: OntapBackend;

beforeAll(async () => {
  sys = await startOntapSystem(SVMS, {
    env: { RVSS_RECONCILE_INTERVAL_MS: "1000", RVSS_MAX_DELIVER: "5" },
    // p1's CIFS server copies one directory level only (vserver cifs options -shadowcopy-dir-depth 1).
    specs: { p1: { shadowcopyDirDepth: 1 } },
  });
  backend = openFiler(sys.filer.configPath, "ontap") as OntapBackend;
}, 60_000);

afterAll(async () => {
  await backend?.close();
  await sys?.stop();
});

const nothingLeft = { copies: [], shares: [] };

async function finished(backupId: string, ms = 60_000) {
  let b = await sys.client.getBackup(backupId);
  await until(
    `backup ${backupId} to finish`,
    async () => (b = await sys.client.getBackup(backupId)).state !== BackupState.BACKUP_STATE_RUNNING,
    ms,
  );
  return b;
}

test("a managed backup clones, exposes, seals and snapshots on ONTAP, leaves one snapshot and nothing else, and restores into the share", async () => {
  const b = await sys.client.createBackup({ dataset: [{ svm: "o1", share: "share1", files: FILES }] });
  const done = await finished(b.id);
  expect([done.state, done.reason]).toEqual([BackupState.BACKUP_STATE_COMPLETED, ""]);
  // ONTAP computes no checksums: describe says the snapshot is never verified (restores check sizes).
  expect(done.sets[0]!.snapshots.map((x) => x.verification?.state)).toEqual([
    VerificationState.VERIFICATION_STATE_NONE,
  ]);
  const left = await sys.leftovers("o1");
  expect({ copies: left.copies, shares: left.shares }).toEqual(nothingLeft);
  expect(left.snapshots).toEqual([expect.stringMatching(new RegExp(`^rvss_${b.id}_`))]);
  // The snapshot holds the sealed copy: .rvss/<id>/ with the listed files, and its .done mark.
  const inSnapshot = path.join(sys.dir, "filer", "cluster1", "snapshots", sys.filer.fake.uuidOf("o1", "vm_vol1"));
  const copies = fs.readdirSync(path.join(inSnapshot, left.snapshots[0]!, ".rvss")).sort();
  expect(copies).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/), `${copies[0]}.done`]);
  for (const f of FILES)
    expect(fs.existsSync(path.join(inSnapshot, left.snapshots[0]!, ".rvss", copies[0]!, f))).toBe(true);

  const live = path.join(sys.shareDir("o1"), FILES[0]!);
  fs.writeFileSync(live, "damaged after the backup");
  const intoShare = { kind: { $case: "share" as const, value: { svm: "", share: "", files: [], vms: [] } } };
  await expect(sys.client.restore({ backupId: b.id, target: intoShare })).rejects.toThrow(
    /files exist in share "share1" of SVM "o1" .* restore with overwrite/,
  );
  const restored = await sys.client.restore({ backupId: b.id, target: intoShare, overwrite: true });
  expect(restored.files.map((f) => [f.path, Number(f.bytes)]).sort()).toEqual([...SAMPLE_VM_FILES].sort());
  expect(fs.readFileSync(live).equals(sampleBytes(`o1/${FILES[0]}`, SAMPLE_VM_FILES[0]![1]))).toBe(true);

  await expect(
    sys.client.restore({ backupId: b.id, target: { kind: { $case: "directory", value: path.join(sys.dir, "out") } } }),
  ).rejects.toThrow(/restores into a share of the snapshot's volume/);
});

test("a backup of a share ONTAP does not know fails naming it, and leaves nothing on the cluster", async () => {
  const b = await sys.client.createBackup({ dataset: [{ svm: "o1", share: "nope", files: [] }] });
  const done = await finished(b.id);
  expect(done.state).toBe(BackupState.BACKUP_STATE_FAILED);
  expect(done.reason).toMatch(/share "nope" does not exist on SVM "o1" \(cluster "cluster1"; known: share1\)/);
  expect({ ...(await sys.leftovers("o1")), snapshots: [] }).toEqual({ ...nothingLeft, snapshots: [] });
});

test("a snapshot job that keeps failing ends the backup failed with ONTAP's message, and leaves no copy, share or snapshot", async () => {
  sys.filer.fake.inject({
    method: "POST",
    path: /\/snapshots$/,
    kind: "job-failure",
    message: "volume is busy",
    code: 524486,
    times: 20,
  });
  try {
    const b = await sys.client.createBackup({ dataset: [{ svm: "o2", share: "share1", files: FILES }] });
    const done = await finished(b.id, 90_000);
    expect(done.state).toBe(BackupState.BACKUP_STATE_FAILED);
    expect(done.reason).toMatch(
      /taking snapshot "rvss_.*" \(SVM "o2", cluster "cluster1"\): the job of POST .* failed: "volume is busy" \(error 524486\)/,
    );
    await until("o2 to be drained", async () => {
      const l = await sys.leftovers("o2");
      return l.copies.length + l.shares.length + l.snapshots.length === 0;
    });
  } finally {
    sys.filer.fake.clearFaults();
  }
});

test("preflight reads ONTAP's shadow copy depth and walks the share through the files API", async () => {
  const preflight = new PreflightClient({ address: sys.env["RVSS_GRPC_ADDR"]!, auth: testPki().clientAuth("viewer") });
  try {
    const ok = await preflight.validateShare({ svm: "o1", share: "share1", files: [] });
    expect([ok.found, ok.violations, ok.layout?.files, ok.layout?.depthLimit]).toEqual([true, [], 3, 5]);
    const deep = await preflight.validateShare({ svm: "p1", share: "share1", files: [] });
    expect(deep.layout?.depthLimit).toBe(1);
    expect(deep.violations.map((v) => [v.rule, v.path]).sort()).toEqual([
      ["too-deep", "vm1/Virtual Hard Disks"],
      ["too-deep", "vm1/Virtual Machines"],
      ["too-deep", "vm2/Virtual Hard Disks"],
    ]);
  } finally {
    preflight.close();
  }
});

test("the FSRVP agent sequence: Commit clones on ONTAP, Expose shares with the base ACLs, RecoveryComplete makes them read-only, DeleteShareMapping removes them", async () => {
  const c = sys.agent("a1");
  const { setId, copyId } = await driveTo(c, "Exposed");
  const name = exposedShareName("share1", copyId);
  expect((await sys.leftovers("a1")).copies.sort()).toEqual([copyId, `${copyId}.done`]);
  const base = sys.filer.fake.share("a1", "share1")!.acls;
  expect(sys.filer.fake.share("a1", name)).toEqual({ name, path: `/hyperv/vm1/.rvss/${copyId}`, acls: base });
  const mapping = await c.getShareMapping(copyId, setId, unc("a1", "share1"));
  expect(mapping.shareMapping?.shadowCopyShareName).toBe(unc("a1", name));
  for (const f of FILES)
    expect(
      fs
        .readFileSync(path.join(sys.filer.fake.volumeDir("a1", "vm_vol1"), ".rvss", copyId, f))
        .equals(fs.readFileSync(path.join(sys.shareDir("a1"), f))),
    ).toBe(true);
  await c.recoveryCompleteShadowCopySet(setId);
  expect(sys.filer.fake.share("a1", name)!.acls.map((a) => a.permission)).toEqual(["read", "read"]);
  await c.deleteShareMapping(setId, copyId, unc("a1", "share1"));
  await until("the copy and its share to go", async () => (await sys.leftovers("a1")).copies.length === 0);
  expect(await sys.leftovers("a1")).toEqual({ ...nothingLeft, snapshots: [] });
});

describe("an abort in every state leaves nothing on the cluster", () => {
  test.each([
    ["Started", "a2"],
    ["Added", "a3"],
    ["Committed", "a4"],
    ["Exposed", "a5"],
    ["Recovered", "a6"],
  ] as const)("%s", async (state, svm) => {
    const c = sys.agent(svm);
    const { setId } = await driveTo(c, state);
    await c.abortShadowCopySet(setId);
    await expectHResult(c.exposeShadowCopySet(setId), HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
    await until(`${svm} to be drained`, async () => {
      const l = await sys.leftovers(svm);
      return l.copies.length === 0 && l.shares.length === 0;
    });
  });

  test("CreationInProgress: an abort during slow clones removes the half-made copy", async () => {
    const c = sys.agent("a7");
    await c.setContext(0x400000);
    const { shadowCopySetId: setId } = await c.startShadowCopySet(CLIENT_SET_ID);
    await c.addToShadowCopySet(setId, unc("a7", "share1"));
    await c.prepareShadowCopySet(setId);
    sys.filer.fake.setLatency({ clone: 1500 });
    try {
      const commit = c.commitShadowCopySet(setId).catch((err: Error) => err);
      const seen = sys.filer.fake.arrived.length;
      await until("a clone to start", () =>
        sys.filer.fake.arrived.slice(seen).some((x) => x.path === "/storage/file/clone"),
      );
      await c.abortShadowCopySet(setId).catch((err: Error) => err);
      await commit;
      // The clones in flight end after the abort's removal: what they make must go too.
      const clones = (list: { path: string }[]) => list.filter((x) => x.path === "/storage/file/clone").length;
      await until("the clones in flight to end", () => clones(sys.filer.fake.calls) === clones(sys.filer.fake.arrived));
      await until(
        "a7 to be drained",
        async () => {
          const l = await sys.leftovers("a7");
          return l.copies.length === 0 && l.shares.length === 0;
        },
        60_000,
      );
    } finally {
      sys.filer.fake.setLatency({ clone: 0 });
    }
  });
});

describe("the executor killed (-9) mid-step and restarted", () => {
  test.each([
    ["mid-clone", "k1", "clone", /^\/storage\/file\/clone$/],
    ["mid-snapshot", "k2", "snapshot", /\/snapshots$/],
  ] as const)("%s: the backup completes, one snapshot, nothing else left", async (_what, svm, op, call) => {
    sys.filer.fake.setLatency({ [op]: 2000 });
    const seen = sys.filer.fake.arrived.length;
    try {
      const b = await sys.client.createBackup({ dataset: [{ svm, share: "share1", files: FILES }] });
      await until(`the ${op} to be asked for`, () =>
        sys.filer.fake.arrived.slice(seen).some((x) => x.method === "POST" && call.test(x.path)),
      );
      await sys.restart("snapshot-executor");
      sys.filer.fake.setLatency({ [op]: 0 });
      const done = await finished(b.id, 90_000);
      expect([done.state, done.reason]).toEqual([BackupState.BACKUP_STATE_COMPLETED, ""]);
      const left = await sys.leftovers(svm);
      expect({ copies: left.copies, shares: left.shares }).toEqual(nothingLeft);
      expect(left.snapshots).toHaveLength(1);
      // The snapshot holds one copy of the share, each file cloned once.
      const inSnapshot = path.join(
        sys.dir,
        "filer",
        "cluster1",
        "snapshots",
        sys.filer.fake.uuidOf(svm, "vm_vol1"),
        left.snapshots[0]!,
        ".rvss",
      );
      const copies = fs.readdirSync(inSnapshot).filter((e) => !e.endsWith(".done"));
      expect(copies).toHaveLength(1);
      const walk = (d: string): string[] =>
        fs
          .readdirSync(d, { withFileTypes: true })
          .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
      expect(
        walk(path.join(inSnapshot, copies[0]!))
          .map((f) => path.relative(path.join(inSnapshot, copies[0]!), f))
          .sort(),
      ).toEqual([...FILES].sort());
    } finally {
      sys.filer.fake.setLatency({ [op]: 0 });
    }
  });
});

test("the reconciler removes an orphaned clone, exposed share and rvss snapshot that no record knows", async () => {
  const id = "0a0a0a0a-0000-4000-8000-000000000001";
  const share = { svm: "r1", share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir" };
  // The reconciler lives in the coordinator: the orphans are made while it is down.
  await sys.halt("coordinator");
  try {
    await backend.createShadowCopy({ svm: "r1", shadowCopyId: id, share, files: [FILES[1]!], writable: true });
    await backend.exposeShadowCopy({
      svm: "r1",
      volume: "vm_vol1",
      shadowCopyId: id,
      baseShare: "share1",
      exposedName: exposedShareName("share1", id),
      writable: true,
    });
    const snap = snapshotName(
      "0b0b0b0b-0000-4000-8000-000000000002",
      "0c0c0c0c-0000-4000-8000-000000000003",
      Date.now(),
    );
    await backend.createSnapshot({ svm: "r1", volume: "vm_vol1", name: snap });
    const before = await sys.leftovers("r1");
    expect([before.copies.sort(), before.shares, before.snapshots]).toEqual([
      [id, `${id}.done`],
      [exposedShareName("share1", id)],
      [snap],
    ]);
  } finally {
    await sys.start("coordinator");
  }
  await until(
    "the reconciler to remove the orphans",
    async () => {
      const l = await sys.leftovers("r1");
      return l.copies.length + l.shares.length + l.snapshots.length === 0;
    },
    60_000,
  );
});
