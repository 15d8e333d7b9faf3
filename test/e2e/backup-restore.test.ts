/**
 * The walking system end to end: the four services as separate processes over a real nats-server
 * (TLS, each service its own user), a backup and a restore through the CLI, the event stream read
 * by an independent subscriber, and the filer checked on disk.
 */
import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { VerificationState } from "@rvss/proto";
import { LocalBackend } from "@rvss/storage";
import {
  EventRecorder,
  compareTrees,
  createSampleFiler,
  removeTree,
  startRvss,
  startSecureNats,
  type NatsServer,
  type RvssProcesses,
  type SampleFiler,
} from "@rvss/testkit";
import { rvss } from "./cli";

let dir: string;
let nats: NatsServer;
let filer: SampleFiler;
let system: RvssProcesses;
let events: EventRecorder;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-e2e-"));
  filer = await createSampleFiler(dir);
  const secure = await startSecureNats(dir);
  nats = secure.nats;
  system = await startRvss({ NATS_URL: nats.url, RVSS_FILER_CONFIG: filer.configPath }, { natsUsers: secure.users });
  // The CLI reads NATS as the viewer (a restore's progress).
  env = {
    RVSS_GRPC_ADDR: system.grpcAddr,
    NATS_URL: nats.url,
    ...system.pki!.clientEnv(),
    ...secure.users.env("viewer"),
  };
  events = await EventRecorder.start(nats.url, secure.users);
});

afterAll(async () => {
  await events.stop();
  await system.stop();
  await nats.dispose();
  await removeTree(dir);
  nats.assertNoViolations();
});

test("a backup through the CLI passes every phase, leaves one snapshot per volume and restores byte for byte", async () => {
  const files = filer.files.flatMap((f) => ["--file", f]);
  const created = await rvss(["backup", "create", "--svm", "vs1", "--share", "share1", ...files, "--wait"], env);
  expect(created.stderr).toBe("");
  expect(created.code).toBe(0);
  const backupId = /^backup ([0-9a-f-]{36})$/m.exec(created.stdout)![1]!;
  expect(created.stdout).toMatch(/State\s+COMPLETED/);

  // The independent subscriber saw each phase once, in order, on subjects that carry the SVM.
  const setEvents = events.events.filter((e) => e.event.backupId === backupId && e.event.setId);
  expect(setEvents.map((e) => e.subject.replace(/^rvss\.v1\.evt\.vs1\.[0-9a-f-]{36}\./, "…"))).toEqual([
    "…set_started",
    "…shares_resolved",
    "…shares_added",
    "…writers_checkpointed",
    "…creation_started",
    "…shadow_copies_created",
    "…shadow_copies_exposed",
    "…shadow_copies_sealed",
    "…snapshot_taken",
    "…shadow_copies_deleted",
    "…set_completed",
  ]);
  const backupEvents = (type: (t: string) => boolean) =>
    events.events
      .filter((e) => e.subject.startsWith(`rvss.v1.bkp.${backupId}.`))
      .map((e) => e.subject.split(".").pop()!)
      .filter(type);
  expect(backupEvents((t) => t !== "snapshot_verification")).toEqual(["backup_created", "backup_finished"]);
  // Off the backup's critical path, the executor checksums the snapshot and says so as it goes.
  await events.waitFor(
    (e) =>
      e.event.backupId === backupId &&
      e.event.body?.$case === "snapshotVerification" &&
      e.event.body.value.verification?.state === VerificationState.VERIFICATION_STATE_VERIFIED,
  );
  expect(backupEvents((t) => t === "snapshot_verification")).toEqual([
    "snapshot_verification",
    "snapshot_verification",
  ]);

  // On disk: one snapshot of the one volume, no shadow copy or exposed share left.
  const backend = LocalBackend.fromFile(filer.configPath);
  expect((await backend.listSnapshots("vs1")).map((s) => s.volume)).toEqual(["vm_vol1"]);
  expect(await backend.listShadowCopies("vs1")).toEqual([]);
  expect(await backend.listExposedShares("vs1")).toEqual([]);

  const listed = await rvss(["snapshot", "list", "--backup", backupId.slice(0, 8)], env);
  expect(listed.stdout).toMatch(new RegExp(`^SVM +VOLUME +BACKUP .*\nvs1 +vm_vol1 +${backupId} `));

  const target = path.join(dir, "restored");
  const restored = await rvss(["restore", "--backup", backupId, "--to", target], env);
  expect(restored.code).toBe(0);
  expect(restored.stdout).toMatch(/restored 5 file\(s\), 6\.1 MiB, every checksum verified/);
  expect(await compareTrees(filer.shareDir, target, filer.files)).toEqual([]);

  const described = await rvss(["backup", "describe", backupId], env);
  expect(described.stdout).toMatch(/#0 vs1: share1\s+completed/);
  expect(described.stdout).toMatch(/snapshot vs1:vm_vol1@rvss_\S+ {2}verified \(5 file\(s\), 6\.1 MiB\)/);
});

test("a backup of an unknown share fails with exit 1 and a reason naming it", async () => {
  const r = await rvss(["backup", "create", "--svm", "vs1", "--share", "nope", "--wait"], env);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/State\s+FAILED: SVM "vs1": share "nope" does not exist on SVM "vs1" \(known: share1\)/);
});

test("bad usage exits 2 with a message", async () => {
  const r = await rvss(["backup", "create", "--svm", "vs1"], env);
  expect([r.code, r.stderr.trim()]).toEqual([2, "rvss: backup create needs --svm and --share (or --dataset FILE)"]);
  const escaped = await rvss(["backup", "create", "--svm", "vs1", "--share", "share1", "--file", "/etc/passwd"], env);
  expect([escaped.code, escaped.stderr.trim()]).toEqual([
    2,
    'rvss: file path "/etc/passwd" is absolute; list paths relative to the share root in share "share1" of SVM "vs1"',
  ]);
});

test("rvss validate reports a clean share, then names every violation of a bad layout and exits 1; a backup of it fails with nothing on disk", async () => {
  const ok = await rvss(["validate", "--svm", "vs1", "--share", "share1"], env);
  expect([ok.code, ok.stderr]).toEqual([0, ""]);
  // What the volume's filesystem gives depends on where the test directory is.
  expect(ok.stdout).toMatch(/^ {2}storage: \S+, cow (btrfs|reflink|none)( \(one byte copy per backup\))?$/m);
  expect(ok.stdout.replace(/^ {2}storage: .*\n/m, "")).toBe(
    [
      "vs1/share1: volume vm_vol1, path /dir1/vmdir (volume junction /hyperv/vm1)",
      "  walked 5 files, 6 directories; deepest file at depth 2 (limit 5); VMs: vm1, vm2",
      "  ok: the layout meets the Remote VSS rules",
      "",
      "1 share checked: ready for Remote VSS backups",
      "",
    ].join("\n"),
  );

  const stray = path.join(filer.shareDir, "todo.txt");
  const pipe = path.join(filer.shareDir, "vm1", "pipe");
  await fsp.writeFile(stray, "x");
  execFileSync("mkfifo", [pipe]);
  try {
    const bad = await rvss(
      ["validate", "--svm", "vs1", "--share", "share1", "--file", "../../secret", "--file", filer.files[0]!],
      env,
    );
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(
      [
        "  3 violations:",
        '    parent-segment  file path "../../secret" contains "..", which could leave the share',
        '    stray-at-root   "todo.txt" in the root of share "share1" is not a VM file; the share root may hold only VM files (.vhdx .vhd .avhdx .avhd .rct .mrt .vmcx .vmrs .vmgs .vsv .bin .xml) and VM directories',
        '    not-regular     "vm1/pipe" in share "share1" is a FIFO; a Remote VSS share may hold only directories and regular files',
      ].join("\n"),
    );
    expect(bad.stdout).toMatch(/\n3 violations in 1 share of 1; a backup would fail\n$/);
    const json = JSON.parse((await rvss(["validate", "--svm", "vs1", "--share", "share1", "-o", "json"], env)).stdout);
    expect([json.ok, json.checks[0].violations.map((v: { rule: string }) => v.rule)]).toEqual([
      false,
      ["stray-at-root", "not-regular"],
    ]);

    const backend = LocalBackend.fromFile(filer.configPath);
    const snapshots = (await backend.listSnapshots("vs1")).length;
    const backup = await rvss(["backup", "create", "--svm", "vs1", "--share", "share1", "--wait"], env);
    expect(backup.code).toBe(1);
    expect(backup.stdout).toMatch(
      /State\s+FAILED: SVM "vs1": "todo.txt" in the root of share "share1" is not a VM file.* \(and 1 more problem\)/,
    );
    expect([
      await backend.listShadowCopies("vs1"),
      await backend.listExposedShares("vs1"),
      (await backend.listSnapshots("vs1")).length,
    ]).toEqual([[], [], snapshots]);
  } finally {
    await fsp.rm(stray);
    await fsp.rm(pipe);
  }
  const usage = await rvss(["validate", "--svm", "vs1"], env);
  expect([usage.code, usage.stderr.trim()]).toEqual([2, "rvss: validate needs --svm and --share (or --dataset FILE)"]);
});
