import {
  assembleBackup,
  checkDataset,
  markCancelRequested,
  newBackup,
  planSets,
  progressOf,
  recordSetEnd,
  type SetResult,
} from "./backup";
import { ErrorCodes, isRvssError } from "./errors";

const share = (svm: string, name: string, files: string[] = []) => ({ svm, share: name, files });

describe("dataset checks", () => {
  test.each([
    [[], /dataset is empty/],
    [[share("", "s")], /item 1 has no svm/],
    [[share("vs1", " ")], /has no share/],
    [[share("vs1", "a/b")], /path separator/],
    [[share("vs1", "s1"), share("vs1", "S1")], /listed twice/],
    [[share("vs1", "s1", ["../x"])], /contains "\.\."/],
    [[share("vs1", "s1", ["/abs", "../x"])], /absolute.*and 1 more problem/],
  ])("refuses %j", (items, message) => {
    let err: unknown;
    try {
      checkDataset(items);
    } catch (e) {
      err = e;
    }
    expect(isRvssError(err, "INVALID_ARGUMENT")).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  test("a VM named in two shares of the dataset is refused before a backup exists (rule 2)", () => {
    const vm = (files: string[]) => [{ name: "vm1", files }];
    let err: unknown;
    try {
      checkDataset([
        { ...share("vs1", "s1"), vms: vm(["vm1/a.vhdx"]) },
        { ...share("vs2", "s2"), vms: vm(["vm1/b.vhdx"]) },
      ]);
    } catch (e) {
      err = e;
    }
    expect(isRvssError(err, "LAYOUT_UNSUPPORTED")).toBe(true);
    expect((err as Error).message).toBe(
      'VM "vm1" has files in 2 shares (vs1/s1, vs2/s2); all files of one VM must be in one share',
    );
  });

  test("named VMs are kept, and their files travel to the plan", () => {
    const [d] = checkDataset([{ ...share("vs1", "s1"), vms: [{ name: "vm1", files: ["./vm1/a.vhdx"] }] }]);
    expect(d).toEqual({ ...share("vs1", "s1", []), vms: [{ name: "vm1", files: ["vm1/a.vhdx"] }] });
    expect(planSets([d!])[0]!.shares).toEqual([
      { share: "s1", files: [], vms: [{ name: "vm1", files: ["vm1/a.vhdx"] }] },
    ]);
  });

  test("normalises names and file paths", () => {
    expect(checkDataset([share(" vs1 ", "s1", ["./vm1//a.vhdx"])])).toEqual([share("vs1", "s1", ["vm1/a.vhdx"])]);
  });
});

describe("planning", () => {
  test("one set per SVM in order of first appearance", () => {
    const plan = planSets([share("vs2", "a"), share("vs1", "b"), share("vs2", "c")]);
    expect(plan.map((p) => [p.index, p.svm, p.shares.map((s) => s.share)])).toEqual([
      [0, "vs2", ["a", "c"]],
      [1, "vs1", ["b"]],
    ]);
  });

  test("a set holds at most 64 shares", () => {
    const many = Array.from({ length: 130 }, (_, i) => share("vs1", `s${i}`));
    expect(planSets(many).map((p) => p.shares.length)).toEqual([64, 64, 2]);
  });
});

describe("backup state", () => {
  const base = () => newBackup({ id: "b1", dataset: [share("vs1", "a"), share("vs2", "b")], now: 1 });
  const done = (index: number, outcome: "completed" | "aborted", reason?: string): SetResult => ({
    index,
    outcome,
    ...(reason ? { reason } : {}),
    snapshots: [],
    finishedAt: 0,
  });

  test.each([
    [["completed", "completed"], "Completed", undefined],
    [["completed", "aborted"], "PartiallyFailed", 'SVM "vs2": share gone'],
    [["aborted", "aborted"], "Failed", 'SVM "vs1": share gone; SVM "vs2": share gone'],
  ] as const)("sets ending %j make the backup %s", (outcomes, state, reason) => {
    const { plan } = base();
    let { status } = base();
    outcomes.forEach(
      (o, i) => (status = recordSetEnd(status, plan, done(i, o, o === "aborted" ? "share gone" : undefined), 10 + i)),
    );
    expect([status.state, status.reason, status.finishedAt]).toEqual([state, reason, 11]);
  });

  test("the backup stays Running until every set ended", () => {
    const { plan, status } = base();
    const s = recordSetEnd(status, plan, done(0, "completed"), 5);
    expect(s.state).toBe("Running");
    expect(progressOf(assembleBackup(plan, s, new Map()))).toEqual({
      setsPlanned: 2,
      setsCompleted: 1,
      setsFailed: 0,
      snapshotsTaken: 0,
    });
  });

  test("repeated reports change nothing", () => {
    const { plan, status } = base();
    const finished = recordSetEnd(status, plan, done(0, "completed"), 4);
    expect(recordSetEnd(finished, plan, done(0, "aborted", "late"), 5)).toBe(finished);
  });

  test("a cancelled backup ends Cancelled", () => {
    const { plan, status } = base();
    let s = markCancelRequested(status, 2);
    s = recordSetEnd(s, plan, done(0, "aborted", "the backup was cancelled"), 3);
    s = recordSetEnd(s, plan, done(1, "aborted", "the backup was cancelled"), 4);
    expect(s.state).toBe("Cancelled");
  });

  test("the view puts plan, state and results together", () => {
    const { plan, status } = base();
    const r = { ...done(1, "aborted", "share gone"), setId: "s-2", code: ErrorCodes.SHARE_NOT_FOUND };
    const view = assembleBackup(plan, recordSetEnd(status, plan, r, 3), new Map([[1, r]]));
    expect(view.sets.map((x) => [x.index, x.phase, x.setId, x.reason])).toEqual([
      [0, "queued", undefined, undefined],
      [1, "failed", "s-2", "share gone"],
    ]);
  });

  test("the view gives each snapshot its verification, kept apart from the set's result", () => {
    const { plan, status } = base();
    const snap = (volume: string, name: string) => ({
      svm: "vs1",
      volume,
      name,
      takenAt: 2,
      setId: "s-1",
      shadowCopies: [],
    });
    const r: SetResult = { ...done(0, "completed"), setId: "s-1", snapshots: [snap("v1", "n1"), snap("v2", "n2")] };
    const failed = { volume: "v2", name: "n2", state: "failed" as const, reason: "cannot read", at: 4 };
    const view = assembleBackup(plan, recordSetEnd(status, plan, r, 3), new Map([[0, r]]), [failed]);
    expect(view.sets[0]!.snapshots.map((x) => x.verification)).toEqual([undefined, failed]);
  });
});

test("a set that completed although a writer failed (policy continue) makes the backup PartiallyFailed, naming the writer", () => {
  const { plan, status } = newBackup({ id: "b1", dataset: [share("vs1", "a")], onWriterError: "continue", now: 1 });
  const failed = {
    step: "auto_recover" as const,
    writerId: "w9",
    name: "orders-db",
    ok: false,
    reason: "did not answer within 60000 ms",
    detail: "",
    at: 2,
    elapsedMs: 60000,
  };
  const s = recordSetEnd(
    status,
    plan,
    { index: 0, outcome: "completed", snapshots: [], writerSteps: [failed], finishedAt: 3 },
    3,
  );
  expect([s.state, s.reason]).toEqual([
    "PartiallyFailed",
    'SVM "vs1": writer "orders-db" (w9) failed to auto-recover: did not answer within 60000 ms',
  ]);
});
