import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import {
  backupStatusKey,
  deleteSnapshotsCommandId,
  emptySvmRecord,
  snapshotName,
  svmKey,
  type SvmRecord,
} from "@rvss/core";
import { listDeadLetters, publishCommand, type Bus } from "@rvss/bus";
import { VerificationState, type ExecutorCommand, type ShadowCopy, type Verification } from "@rvss/proto";
import { LocalBackend, type SnapshotRef } from "@rvss/storage";
import {
  createSampleFiler,
  removeTree,
  startServiceHarness,
  type EventRecorder,
  type SampleFiler,
  type ServiceHarness,
} from "@rvss/testkit";
import { startSnapshotExecutor } from "./index";
import * as steps from "./steps";
import { Verifier } from "./steps";

let dir: string;
let filer: SampleFiler;
let backend: LocalBackend;
let h: ServiceHarness;
let bus: Bus;
let events: EventRecorder;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-ex-"));
  filer = await createSampleFiler(dir);
  backend = LocalBackend.fromFile(filer.configPath);
  h = await startServiceHarness(startSnapshotExecutor, "snapshot-executor", filer.configPath);
  ({ bus, events } = h);
});

afterAll(async () => {
  await h.stop();
  await removeTree(dir);
});

/**
 * The executor acts only on what the SVM's record holds (a coordinator would have written it): the
 * record gets the set and its copies before the set's commands are sent.
 */
async function recordSet(setId: string, copies: ShadowCopy[]): Promise<void> {
  const r = (await bus.state.get<SvmRecord>(svmKey("vs1")))?.value ?? emptySvmRecord("vs1");
  r.sets.push({
    id: setId,
    status: "CreationInProgress",
    context: 0,
    createdAt: 0,
    client: "test",
    snapshots: [],
    shadowCopies: copies.map((c) => ({
      id: c.shadowCopyId,
      share: c.share,
      volume: c.volume,
      sharePath: c.sharePath,
      files: c.files,
      creationTimestamp: 0,
      mapping: null,
    })),
  });
  await bus.state.put(svmKey("vs1"), r);
}

let n = 0;
/** Sends one command and waits for the events that answer it (the first, or as many as asked). */
async function sendAll(setId: string, kind: ExecutorCommand["kind"], count: number, backupId = "") {
  const commandId = `${setId}:cmd:${++n}`;
  await publishCommand(bus, "executor", { context: { commandId, svm: "vs1", setId, backupId }, kind });
  const mine = (e: { msgId: string }) => e.msgId.startsWith(`${commandId}/`);
  await events.waitFor(() => events.events.filter(mine).length >= count);
  return events.events.filter(mine).map((e) => e.event);
}

async function send(setId: string, kind: ExecutorCommand["kind"], backupId = "") {
  return (await sendAll(setId, kind, 1, backupId))[0]!;
}

function copy(id: string, files: string[]): ShadowCopy {
  return {
    shadowCopyId: id,
    share: "share1",
    volume: "vm_vol1",
    sharePath: "dir1/vmdir",
    files,
    exposedName: `share1@{${id}}`,
    writable: true,
    clonePath: "",
    accessPath: "",
    bytes: 0n,
    fileCount: 0,
  };
}

describe("snapshot-executor", () => {
  const setId = "00000000-0000-4000-8000-0000000000a1";
  const c = copy("00000000-0000-4000-8000-0000000000c1", ["vm1/Virtual Hard Disks/vm1.vhdx"]);

  const snapName = snapshotName("b1b1b1b1-0000-4000-8000-0000000000b1", setId, Date.UTC(2026, 0, 1));

  test("creates, exposes, finalizes (seal, snapshot per volume, removal) and restores", async () => {
    await recordSet(setId, [c]);
    const created = await send(setId, { $case: "createShadowCopies", value: { shadowCopies: [c] } });
    expect(
      created.body?.$case === "shadowCopiesCreated" &&
        created.body.value.shadowCopies.map((x) => [x.clonePath, x.fileCount, Number(x.bytes)]),
    ).toEqual([[`.shadowcopy/${c.shadowCopyId}`, 1, 4 * 1024 * 1024]]);
    await send(setId, { $case: "exposeShadowCopies", value: { shadowCopies: [c] } });
    expect((await backend.listExposedShares("vs1")).map((s) => s.name)).toEqual([c.exposedName]);
    const exposedFile = path.join(await backend.exposedSharePath("vs1", c.exposedName), c.files[0]!);
    await fsp.appendFile(exposedFile, "repaired by a writer");
    const [sealed, snap, deleted] = await sendAll(
      setId,
      {
        $case: "finalizeShadowCopies",
        value: { snapshots: [{ volume: "vm_vol1", name: snapName }], shadowCopies: [c] },
      },
      3,
    );
    expect([sealed!.body?.$case, snap!.body?.$case, deleted!.body?.$case]).toEqual([
      "shadowCopiesSealed",
      "snapshotTaken",
      "shadowCopiesDeleted",
    ]);
    expect(
      snap!.body?.$case === "snapshotTaken" && snap!.body.value.snapshot?.shadowCopies.map((x) => x.shadowCopyId),
    ).toEqual([c.shadowCopyId]);
    expect(deleted!.body?.$case === "shadowCopiesDeleted" && deleted!.body.value.shadowCopyIds).toEqual([
      c.shadowCopyId,
    ]);
    expect([await backend.listShadowCopies("vs1"), await backend.listExposedShares("vs1")]).toEqual([[], []]);
    // Delivered again after it completed (a lost acknowledgement): the same results, no failure.
    const again = await sendAll(
      setId,
      {
        $case: "finalizeShadowCopies",
        value: { snapshots: [{ volume: "vm_vol1", name: snapName }], shadowCopies: [c] },
      },
      3,
    );
    expect(again.map((e) => e.body?.$case)).toEqual(["shadowCopiesSealed", "snapshotTaken", "shadowCopiesDeleted"]);
    const image = path.join(
      dir,
      "filer",
      "vs1",
      "vm_vol1",
      ".snapshot",
      snapName,
      ".shadowcopy",
      c.shadowCopyId,
      c.files[0]!,
    );
    await expect(fsp.appendFile(image, "x")).rejects.toThrow(/EPERM|EACCES/);
    // The executor checksums the snapshot after the backup, on its own, and reports each state.
    const snapRef = { svm: "vs1", volume: "vm_vol1", name: snapName };
    const states = () =>
      events.events.flatMap(({ event: e }) =>
        e.body?.$case === "snapshotVerification" && e.body.value.name === snapName ? [e.body.value.verification!] : [],
      );
    await events.waitFor(() => states().some((v) => v.state === VerificationState.VERIFICATION_STATE_VERIFIED));
    expect(states().map((v) => [v.state, v.files, Number(v.bytes)])).toEqual([
      [VerificationState.VERIFICATION_STATE_VERIFYING, 0, 0],
      [VerificationState.VERIFICATION_STATE_VERIFIED, 1, 4 * 1024 * 1024 + "repaired by a writer".length],
    ]);
    expect(Object.keys((await backend.snapshotVerification(snapRef))!.shadowCopies[c.shadowCopyId]!.files)).toEqual(
      c.files,
    );
    const target = path.join(dir, "restore");
    const restored = await send(
      setId,
      {
        $case: "restoreFiles",
        value: {
          restoreId: "r1",
          snapshot: { svm: "vs1", volume: "vm_vol1", name: snapName, backupId: "", setId, shadowCopies: [] },
          shadowCopy: c,
          files: [],
          target: { kind: { $case: "directory", value: target } },
          overwrite: false,
        },
      },
      "b1",
    );
    expect(restored.body?.$case === "restoreFinished" && restored.body.value.ok).toBe(true);
    expect((await fsp.readFile(path.join(target, c.files[0]!))).subarray(-20).toString()).toBe("repaired by a writer");
  });

  test("a finalize reads the snapshots only when its seal fails: delivered again after it completed", async () => {
    const c3 = copy("00000000-0000-4000-8000-0000000000c3", ["vm2/Virtual Machines/vm2.vmcx"]);
    const ctx = { backupId: "b3b3b3b3-0000-4000-8000-0000000000b3", setId: "00000000-0000-4000-8000-0000000000a3" };
    const cmd = {
      snapshots: [{ volume: "vm_vol1", name: snapshotName(ctx.backupId, ctx.setId, 0) }],
      shadowCopies: [c3],
    };
    const reported: string[] = [];
    const emit: steps.Emit = async (r) => void reported.push(r.body?.$case ?? "");
    await steps.createShadowCopies(backend, "vs1", { shadowCopies: [c3] }, emit, true, 100);
    const listings = jest.spyOn(backend, "listSnapshots");
    try {
      await steps.finalizeShadowCopies(backend, "vs1", ctx, cmd, emit);
      expect(listings).not.toHaveBeenCalled();
      await steps.finalizeShadowCopies(backend, "vs1", ctx, cmd, emit);
      expect(listings).toHaveBeenCalledTimes(1);
      expect(reported.slice(1)).toEqual([
        ...["shadowCopiesSealed", "snapshotTaken", "shadowCopiesDeleted"],
        ...["shadowCopiesSealed", "snapshotTaken", "shadowCopiesDeleted"],
      ]);
      // Without its snapshots, a copy that is gone fails the finalize.
      await backend.deleteSnapshot({ svm: "vs1", ...cmd.snapshots[0]! });
      await expect(steps.finalizeShadowCopies(backend, "vs1", ctx, cmd, emit)).rejects.toThrow(/does not exist/);
    } finally {
      listings.mockRestore();
    }
  });

  test("a create delivered twice makes one copy", async () => {
    const twice = copy("00000000-0000-4000-8000-0000000000c2", ["vm2/Virtual Machines/vm2.vmcx"]);
    await recordSet("00000000-0000-4000-8000-0000000000a2", [twice]);
    const a = await send("00000000-0000-4000-8000-0000000000a2", {
      $case: "createShadowCopies",
      value: { shadowCopies: [twice] },
    });
    const b = await send("00000000-0000-4000-8000-0000000000a2", {
      $case: "createShadowCopies",
      value: { shadowCopies: [twice] },
    });
    expect(b.body).toEqual(a.body);
    expect((await backend.listShadowCopies("vs1")).map((x) => x.shadowCopyId)).toEqual([twice.shadowCopyId]);
    await backend.deleteShadowCopy({ svm: "vs1", volume: "vm_vol1", shadowCopyId: twice.shadowCopyId });
  });

  test("a create that cannot work fails the step, names the file and leaves no copy", async () => {
    const bad = [
      copy("00000000-0000-4000-8000-0000000000c3", ["vm1/Virtual Machines/vm1.vmcx"]),
      copy("00000000-0000-4000-8000-0000000000c4", ["vm1/nope.vhdx"]),
    ];
    await recordSet("00000000-0000-4000-8000-0000000000a3", bad);
    const e = await send("00000000-0000-4000-8000-0000000000a3", {
      $case: "createShadowCopies",
      value: { shadowCopies: bad },
    });
    expect(e.body).toEqual({
      $case: "stepFailed",
      value: { step: 3, code: "FILE_NOT_FOUND", reason: 'file "vm1/nope.vhdx" does not exist in share "share1"' },
    });
    expect(await backend.listShadowCopies("vs1")).toEqual([]);
  });
});

describe("commands the SVM's record does not back are dead-lettered, and storage is untouched", () => {
  /** Sends a command and waits for its dead letter; it reports no result (a live set hears of the failure). */
  async function refused(setId: string, kind: ExecutorCommand["kind"], backupId = ""): Promise<string> {
    const commandId = `${setId || backupId}:forged:${++n}`;
    const before = (await listDeadLetters(bus, 1000)).total;
    await publishCommand(bus, "executor", { context: { commandId, svm: "vs1", setId, backupId }, kind });
    for (let i = 0; i < 100; i++) {
      const { total, letters } = await listDeadLetters(bus, 1000);
      if (total > before) {
        const reported = events.events.filter((e) => e.msgId.startsWith(`${commandId}/`));
        expect(reported.map((e) => e.event.body?.$case).filter((t) => t !== "stepFailed")).toEqual([]);
        return letters.at(-1)!.reason;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${commandId} was not dead-lettered`);
  }

  test("a removal naming a completed backup's snapshot removes nothing", async () => {
    const setId = "00000000-0000-4000-8000-0000000000f1";
    const name = snapshotName("b2b2b2b2-0000-4000-8000-0000000000b2", setId, Date.UTC(2026, 0, 2));
    await backend.createSnapshot({ svm: "vs1", volume: "vm_vol1", name });
    const reason = await refused(setId, {
      $case: "deleteShadowCopies",
      value: { shadowCopies: [], snapshots: [{ volume: "vm_vol1", name }], aborted: true, reason: "forged" },
    });
    expect(reason).toMatch(/PERMISSION_DENIED: .*holds no removal of snapshot/);
    expect((await backend.listSnapshots("vs1")).map((x) => x.name)).toContain(name);
  });

  test("a delete_snapshots naming a live backup's own snapshot removes nothing; once Deleting, it does", async () => {
    const backupId = "b3b3b3b3-0000-4000-8000-0000000000b3";
    const name = snapshotName(backupId, "00000000-0000-4000-8000-0000000000f5", Date.UTC(2026, 0, 3));
    await backend.createSnapshot({ svm: "vs1", volume: "vm_vol1", name });
    const status = { state: "Completed", createdAt: 0, updatedAt: 0 };
    await bus.state.put(backupStatusKey(backupId), status);
    const kind = { $case: "deleteSnapshots" as const, value: { snapshots: [{ volume: "vm_vol1", name }], reason: "" } };
    const reason = await refused("", kind, backupId);
    expect(reason).toBe(
      `PERMISSION_DENIED: refused to delete ${name}: backup ${backupId} is Completed, not being deleted; the command is not the coordinator's`,
    );
    expect((await backend.listSnapshots("vs1")).map((x) => x.name)).toContain(name);
    // The coordinator records Deleting before it sends the command.
    await bus.state.put(backupStatusKey(backupId), { ...status, state: "Deleting" });
    const commandId = deleteSnapshotsCommandId(backupId, "vs1");
    await publishCommand(bus, "executor", { context: { commandId, svm: "vs1", setId: "", backupId }, kind });
    const done = await events.waitFor((e) => e.msgId.startsWith(`${commandId}/`));
    expect(done.event.body).toEqual({ $case: "snapshotsDeleted", value: { deleted: [name], alreadyGone: [] } });
    expect((await backend.listSnapshots("vs1")).map((x) => x.name)).not.toContain(name);
  });

  test("a snapshot name that is a path never reaches storage", async () => {
    const outside = path.join(dir, "outside", "victim");
    await fsp.mkdir(outside, { recursive: true });
    await fsp.writeFile(path.join(outside, "keep"), "keep");
    const reason = await refused("00000000-0000-4000-8000-0000000000f2", {
      $case: "deleteShadowCopies",
      value: {
        shadowCopies: [],
        snapshots: [{ volume: "vm_vol1", name: "../../../../outside/victim" }],
        aborted: true,
        reason: "forged",
      },
    });
    expect(reason).toMatch(/is not a name rvss gives its snapshots/);
    expect(await fsp.readFile(path.join(outside, "keep"), "utf8")).toBe("keep");
  });

  test("a create whose share path leaves the volume copies nothing", async () => {
    const setId = "00000000-0000-4000-8000-0000000000f3";
    const forged = { ...copy("00000000-0000-4000-8000-0000000000f3", ["secret"]), sharePath: "../../../outside" };
    await recordSet(setId, [forged]);
    const reason = await refused(setId, { $case: "createShadowCopies", value: { shadowCopies: [forged] } });
    expect(reason).toMatch(/share path: .*contains "\.\."/);
    expect(await backend.listShadowCopies("vs1")).toEqual([]);
  });

  test("a create for a set the record does not hold copies nothing", async () => {
    const c = copy("00000000-0000-4000-8000-0000000000f4", ["vm1/Virtual Machines/vm1.vmcx"]);
    const reason = await refused("00000000-0000-4000-8000-0000000000f4", {
      $case: "createShadowCopies",
      value: { shadowCopies: [c] },
    });
    expect(reason).toMatch(/holds no such set/);
    expect(await backend.listShadowCopies("vs1")).toEqual([]);
  });
});

describe("verification, after the backup", () => {
  const setId = "00000000-0000-4000-8000-0000000000a9";
  const c = copy("00000000-0000-4000-8000-0000000000c9", ["vm1/Virtual Hard Disks/vm1.vhdx"]);
  const ref = { svm: "vs1", volume: "vm_vol1", name: snapshotName("b9b9b9b9-0000-4000-8000-0000000000b9", setId, 0) };

  /** What a verifier reports of each snapshot, in order. */
  async function verify(b: LocalBackend, snap: SnapshotRef): Promise<Verification[]> {
    const reports: Verification[] = [];
    const v = new Verifier(
      b,
      async (r, x) => {
        if (r.name === snap.name) reports.push(x);
      },
      () => undefined,
    );
    v.add(snap);
    await v.idle();
    return reports;
  }

  test("a file that cannot be read fails it, naming the file", async () => {
    const copyRef = { svm: "vs1", volume: c.volume, shadowCopyId: c.shadowCopyId };
    await backend.createShadowCopy({
      svm: "vs1",
      shadowCopyId: c.shadowCopyId,
      share: { svm: "vs1", share: c.share, volume: c.volume, sharePath: c.sharePath },
      files: c.files,
      writable: false,
    });
    await backend.createSnapshot({ ...ref, shadowCopyIds: [c.shadowCopyId] });
    await backend.deleteShadowCopy(copyRef);
    // Damage in the snapshot before it is verified: its file replaced by a link, which is not read.
    const held = path.join(dir, "filer", "vs1", "vm_vol1", ".snapshot", ref.name, ".shadowcopy", c.shadowCopyId);
    const file = path.join(held, c.files[0]!);
    if (process.getuid?.() === 0) execFileSync("chattr", ["-R", "-i", held]);
    execFileSync("chmod", ["-R", "u+w", held]);
    await fsp.rm(file);
    await fsp.symlink(path.join(dir, "nothing"), file);
    const [verifying, failed] = await verify(backend, ref);
    expect([verifying?.state, failed?.state, failed?.file, failed?.code]).toEqual([
      VerificationState.VERIFICATION_STATE_VERIFYING,
      VerificationState.VERIFICATION_STATE_FAILED,
      c.files[0],
      "STORAGE_FAILED",
    ]);
    expect(failed?.reason).toContain(`cannot read "${c.files[0]}" of shadow copy ${c.shadowCopyId}: ELOOP`);
    expect(await backend.snapshotVerification(ref)).toBeNull();
  });
});
