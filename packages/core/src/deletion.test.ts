import type { BackupStatus } from "./backup";
import { checkSnapshotRoom, confirmSnapshotsDeleted, startDeletion } from "./deletion";
import { isRvssError } from "./errors";

const done: BackupStatus = {
  state: "Completed",
  updatedAt: 0,
  ended: { 0: "completed" },
  problems: [],
  snapshotsTaken: 2,
};

describe("deleting a backup", () => {
  test("Deleting until every SVM confirmed, then Deleted; confirmations count once", () => {
    const s1 = startDeletion(done, { backupId: "b", svms: ["vs2", "vs1", "vs1"] }, { reason: "on request" }, 10);
    expect(s1).toMatchObject({
      state: "Deleting",
      deletion: { pending: ["vs1", "vs2"], was: "Completed", reason: "on request" },
    });
    const s2 = confirmSnapshotsDeleted(s1, "vs1", 11);
    expect(s2.state).toBe("Deleting");
    expect(confirmSnapshotsDeleted(s2, "vs1", 12)).toBe(s2);
    const s3 = confirmSnapshotsDeleted(s2, "vs2", 13);
    expect(s3).toMatchObject({ state: "Deleted", deletion: { pending: [], deletedAt: 13 } });
    expect(confirmSnapshotsDeleted(s3, "vs2", 14)).toBe(s3);
  });

  test("a backup without snapshots is Deleted at once; asking again changes nothing", () => {
    const failed: BackupStatus = { ...done, state: "Failed", snapshotsTaken: 0 };
    const s = startDeletion(failed, { backupId: "b", svms: [] }, { reason: "ttl", byCollector: true }, 5);
    expect(s).toMatchObject({ state: "Deleted", deletion: { deletedAt: 5 } });
    expect(startDeletion(s, { backupId: "b", svms: ["vs1"] }, { reason: "again" }, 6)).toBe(s);
  });

  test("a running backup is refused: cancel it first", () => {
    const running: BackupStatus = { ...done, state: "Running" };
    expect(() => startDeletion(running, { backupId: "b1", svms: ["vs1"] }, { reason: "x" }, 1)).toThrow(
      "backup b1 is running; cancel it first",
    );
  });
});

describe("the per-volume snapshot limit", () => {
  test.each([
    [[["vol1", 998]], 1000, null],
    [[["vol1", 999]], 1000, null],
    [
      [
        ["vol1", 10],
        ["vol2", 1000],
      ],
      1000,
      'volume "vol2" of SVM "vs1" holds 1000 snapshots',
    ],
    [[["vol1", 255]], 255, 'volume "vol1" of SVM "vs1" holds 255 snapshots'],
  ] as [[string, number][], number, string | null][])("%j under %d", (counts, max, err) => {
    const run = () => checkSnapshotRoom("vs1", new Map(counts), max);
    if (!err) expect(run).not.toThrow();
    else {
      expect(run).toThrow(err);
      try {
        run();
      } catch (e) {
        expect(isRvssError(e, "FAILED_PRECONDITION")).toBe(true);
      }
    }
  });
});
