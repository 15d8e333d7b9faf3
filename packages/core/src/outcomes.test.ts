import type { BackupPlan, BackupStatus } from "./backup";
import { backupFigures, figuresKey, restoreFigures, svmOutcomes, type SvmOutcome } from "./outcomes";

function plan(id: string, svms: string[], createdAt = 0): BackupPlan {
  return {
    id,
    description: "",
    createdAt,
    onWriterError: "fail",
    dataset: [],
    sets: svms.map((svm, index) => ({ index, svm, shares: [] })),
  };
}

function status(state: BackupStatus["state"], ended: BackupStatus["ended"], finishedAt?: number): BackupStatus {
  return {
    state,
    updatedAt: finishedAt ?? 0,
    ...(finishedAt !== undefined ? { finishedAt } : {}),
    ended,
    problems: [],
    snapshotsTaken: 0,
  };
}

describe("svmOutcomes", () => {
  test.each<[string, string[], BackupStatus, Record<string, SvmOutcome>]>([
    ["running", ["vs1", "vs2"], status("Running", { 0: "completed" }), { vs1: "running", vs2: "running" }],
    ["all completed", ["vs1", "vs1"], status("Completed", { 0: "completed", 1: "completed" }, 5), { vs1: "success" }],
    [
      "one SVM failed, the other not",
      ["vs1", "vs2"],
      status("PartiallyFailed", { 0: "completed", 1: "failed" }, 5),
      { vs1: "success", vs2: "failure" },
    ],
    [
      "a writer failed under continue",
      ["vs1"],
      status("PartiallyFailed", { 0: "partial" }, 5),
      { vs1: "partial_failure" },
    ],
    [
      "one of two sets of an SVM failed",
      ["vs1", "vs1"],
      status("PartiallyFailed", { 0: "completed", 1: "failed" }, 5),
      { vs1: "partial_failure" },
    ],
    ["a set that never ended in an ended backup", ["vs1"], status("Cancelled", {}, 5), { vs1: "failure" }],
  ])("%s", (_, svms, st, expected) => {
    expect(Object.fromEntries(svmOutcomes(plan("b", svms), st))).toEqual(expected);
  });
});

describe("backupFigures", () => {
  test("counts per SVM, durations, the last success and the status of the latest ended backup", () => {
    const figures = backupFigures([
      {
        plan: plan("a", ["vs1", "vs2"], 1_000),
        status: status("Completed", { 0: "completed", 1: "completed" }, 61_000),
      },
      { plan: plan("b", ["vs1"], 100_000), status: status("Failed", { 0: "failed" }, 130_000) },
      { plan: plan("c", ["vs2"], 200_000), status: status("Running", {}) },
      // Listed out of order: the latest by end time decides last_status, not the list order.
      { plan: plan("d", ["vs1"], 10_000), status: status("Completed", { 0: "completed" }, 20_000) },
    ]);
    expect(figures.get(figuresKey("vs1"))).toEqual({
      svm: "vs1",
      schedule: "",
      attempts: 3,
      successes: 2,
      failures: 1,
      partialFailures: 0,
      durations: [60, 30, 10],
      lastSuccessAt: 61_000,
      lastStatus: 0,
    });
    expect(figures.get(figuresKey("vs2"))).toEqual({
      svm: "vs2",
      schedule: "",
      attempts: 2,
      successes: 1,
      failures: 0,
      partialFailures: 0,
      durations: [60],
      lastSuccessAt: 61_000,
      lastStatus: 1,
    });
  });

  test("backups of a schedule count apart from the SVM's other backups", () => {
    const nightly = { ...plan("n", ["vs1"], 0), schedule: "nightly" };
    const figures = backupFigures([
      { plan: nightly, status: status("Completed", { 0: "completed" }, 5_000) },
      { plan: plan("m", ["vs1"], 0), status: status("Failed", { 0: "failed" }, 9_000) },
    ]);
    expect([...figures.values()].map((f) => [f.svm, f.schedule, f.successes, f.failures, f.lastStatus])).toEqual([
      ["vs1", "nightly", 1, 0, 1],
      ["vs1", "", 0, 1, 0],
    ]);
  });

  test("the same records give the same figures, however often they are read", () => {
    const records = [{ plan: plan("a", ["vs1"]), status: status("Completed", { 0: "completed" }, 1_000) }];
    expect(backupFigures(records)).toEqual(backupFigures([...records]));
  });
});

test("restoreFigures counts per SVM and times ended restores", () => {
  const figures = restoreFigures([
    { svm: "vs1", state: "completed", createdAt: 0, finishedAt: 2_000 },
    { svm: "vs1", state: "failed", createdAt: 0, finishedAt: 500 },
    { svm: "vs1", state: "running", createdAt: 0 },
  ]);
  expect(Object.fromEntries(figures)).toEqual({ vs1: { attempts: 3, successes: 1, failures: 1, durations: [2, 0.5] } });
});
