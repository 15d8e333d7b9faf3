import { snapshotName } from "../naming";
import { checkCopiesOfSet, checkRemoval, checkSnapshotDeletion, type CopyTarget } from "./targets";
import { emptySvmRecord, type ShadowCopyRecord, type SvmRecord } from "./types";

const SET = "5e7a0000-0000-4000-8000-000000000001";
const COPY = "c0c0c0c0-0000-4000-8000-000000000001";
const OTHER = "c0c0c0c0-0000-4000-8000-0000000000ff";
const SNAP = snapshotName("b1b1b1b1-0000-4000-8000-000000000001", SET, Date.UTC(2026, 0, 1));

const recordCopy: ShadowCopyRecord = {
  id: COPY,
  share: "share1",
  volume: "vm_vol1",
  sharePath: "/dir1/vmdir",
  files: ["vm1/disk.vhdx"],
  creationTimestamp: 0,
  mapping: null,
};
const target: CopyTarget = {
  shadowCopyId: COPY,
  share: "share1",
  volume: "vm_vol1",
  sharePath: "/dir1/vmdir",
  files: ["vm1/disk.vhdx"],
};

function withSet(): SvmRecord {
  const r = emptySvmRecord("vs1");
  r.sets.push({
    id: SET,
    status: "CreationInProgress",
    context: 0,
    createdAt: 0,
    client: "c",
    snapshots: [],
    shadowCopies: [recordCopy],
  });
  return r;
}

function withRemoval(outcome: "completed" | "aborted"): SvmRecord {
  const r = emptySvmRecord("vs1");
  r.removals.push({
    setId: SET,
    outcome,
    reason: "",
    code: "",
    shadowCopies: [recordCopy],
    snapshots: [{ volume: "vm_vol1", name: SNAP, shadowCopyIds: [COPY] }],
    deletedCopies: [],
    deletedSnapshots: [],
    attempt: 1,
    since: 0,
  });
  return r;
}

describe("checkCopiesOfSet", () => {
  test("the set's copy as recorded passes, also once the set moved to its removal", () => {
    expect(() => checkCopiesOfSet(withSet(), "vs1", SET, [target])).not.toThrow();
    expect(() => checkCopiesOfSet(withRemoval("completed"), "vs1", SET, [target])).not.toThrow();
  });

  test.each<[string, Partial<CopyTarget>, RegExp]>([
    ["another copy ID", { shadowCopyId: OTHER }, /holds no copy .* as named/],
    ["another share path", { sharePath: "/elsewhere" }, /as named/],
    ["a share path leaving the volume", { sharePath: "../../../outside" }, /share path: .*contains "\.\."/],
    ["a volume that is a path", { volume: "../vm_vol1" }, /volume "\.\.\/vm_vol1" is not a plain name/],
    ["a file leaving the share", { files: ["../../etc/shadow"] }, /contains "\.\."/],
    ["a copy ID that is not a GUID", { shadowCopyId: "../x" }, /is not a GUID/],
  ])("%s is refused", (_name, change, message) => {
    expect(() => checkCopiesOfSet(withSet(), "vs1", SET, [{ ...target, ...change }])).toThrow(message);
  });

  test("a set the record does not hold is refused, for good", () => {
    try {
      checkCopiesOfSet(emptySvmRecord("vs1"), "vs1", SET, [target]);
      throw new Error("passed");
    } catch (e) {
      expect(e).toMatchObject({ code: "PERMISSION_DENIED", message: expect.stringMatching(/holds no such set/) });
    }
    expect(() => checkCopiesOfSet(null, "vs1", SET, [target])).toThrow(/holds no such set/);
  });
});

describe("checkRemoval", () => {
  const present = { copy: async () => true, snapshot: async () => true };
  const gone = { copy: async () => false, snapshot: async () => false };
  const snap = { volume: "vm_vol1", name: SNAP };

  test("an aborted set's removal takes its copies and snapshots", async () => {
    await expect(
      checkRemoval(withRemoval("aborted"), "vs1", SET, { copies: [target], snapshots: [snap] }, present),
    ).resolves.toBeUndefined();
  });

  test("a completed set's snapshot is the backup: no removal takes it", async () => {
    await expect(
      checkRemoval(withRemoval("completed"), "vs1", SET, { copies: [], snapshots: [snap] }, present),
    ).rejects.toThrow(/holds no removal of snapshot/);
  });

  test("what no record names is refused while it exists, and passes once it is gone (a repeat)", async () => {
    const none = emptySvmRecord("vs1");
    await expect(checkRemoval(none, "vs1", SET, { copies: [target], snapshots: [] }, present)).rejects.toThrow(
      /holds no removal of copy/,
    );
    await expect(
      checkRemoval(none, "vs1", SET, { copies: [target], snapshots: [snap] }, gone),
    ).resolves.toBeUndefined();
  });

  test.each(["../../../../outside/victim", "manual-snapshot"])(
    "snapshot name %j is refused before anything",
    async (name) => {
      await expect(
        checkRemoval(
          withRemoval("aborted"),
          "vs1",
          SET,
          { copies: [], snapshots: [{ volume: "vm_vol1", name }] },
          gone,
        ),
      ).rejects.toThrow(/is not a name rvss gives its snapshots/);
    },
  );

  test("an orphan's removal (ID and volume only) passes", async () => {
    const r = withRemoval("aborted");
    r.removals[0]!.shadowCopies = [{ ...recordCopy, share: "", sharePath: "", files: [] }];
    await expect(
      checkRemoval(
        r,
        "vs1",
        SET,
        { copies: [{ ...target, share: "", sharePath: "", files: [] }], snapshots: [] },
        present,
      ),
    ).resolves.toBeUndefined();
  });
});

describe("checkSnapshotDeletion", () => {
  const B = "b1b1b1b1-0000-4000-8000-000000000001";
  const own = [{ volume: "vm_vol1", name: SNAP }];
  test.each<[string | null, boolean]>([
    ["Deleting", true],
    ["Deleted", true],
    // No record: no backup owns the snapshot (the admin's DeleteSnapshot).
    [null, true],
    ["Completed", false],
    ["PartiallyFailed", false],
    ["Failed", false],
    ["Cancelled", false],
    ["Running", false],
  ])("the backup's own snapshots while its record says %s: deleted %s", (state, allowed) => {
    const check = () => checkSnapshotDeletion({ backupId: B, state }, own);
    if (allowed) expect(check).not.toThrow();
    else
      expect(check).toThrow(
        `refused to delete ${SNAP}: backup ${B} is ${state}, not being deleted; the command is not the coordinator's`,
      );
  });

  test("another backup's snapshot, one of a command naming no backup, or a name that is a path, are refused", () => {
    const other = snapshotName("b2b2b2b2-0000-4000-8000-000000000002", SET, Date.UTC(2026, 0, 1));
    const deleting = { backupId: B, state: "Deleting" };
    expect(() => checkSnapshotDeletion(deleting, [{ volume: "vm_vol1", name: other }])).toThrow(/is not one of backup/);
    expect(() => checkSnapshotDeletion({ backupId: "", state: null }, own)).toThrow(/is not one of backup ""/);
    expect(() => checkSnapshotDeletion(deleting, [{ volume: "vm_vol1", name: "../../x" }])).toThrow(
      /is not a name rvss/,
    );
  });
});
