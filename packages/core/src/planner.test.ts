import { planSets } from "./backup";
import {
  admitBackup,
  emptyPlanner,
  finishSet,
  isReleased,
  releaseSets,
  waitingPosition,
  withdrawBackup,
  type PlannerState,
} from "./planner";

const keys = (links: { backupId: string; index: number }[]) => links.map((l) => `${l.backupId}:${l.index}`);

describe("planning a dataset", () => {
  test("sets spread over the SVMs: every SVM's first set before any SVM's second", () => {
    const dataset = [
      ...Array.from({ length: 130 }, (_, i) => ({ svm: "big", share: `s${i}`, files: [] })),
      { svm: "small1", share: "a", files: [] },
      { svm: "small2", share: "b", files: [] },
    ];
    expect(planSets(dataset).map((p) => `${p.svm}/${p.shares.length}`)).toEqual([
      "big/64",
      "small1/1",
      "small2/1",
      "big/64",
      "big/2",
    ]);
  });
});

describe("planner", () => {
  test("never more than the global limit run at once", () => {
    const p = admitBackup(emptyPlanner(), "b1", 10);
    const { state, released } = releaseSets(p, 4);
    expect(keys(released)).toEqual(["b1:0", "b1:1", "b1:2", "b1:3"]);
    expect(releaseSets(state, 4).released).toEqual([]);
    const after = releaseSets(finishSet(state, { backupId: "b1", index: 1 }), 4);
    expect(keys(after.released)).toEqual(["b1:4"]);
  });

  test("backups take turns: a small backup is not stuck behind a large one", () => {
    let p = admitBackup(emptyPlanner(), "large", 100);
    const first = releaseSets(p, 2);
    p = admitBackup(first.state, "small", 2);
    p = finishSet(finishSet(p, { backupId: "large", index: 0 }), { backupId: "large", index: 1 });
    const next = releaseSets(p, 4);
    expect(keys(next.released)).toEqual(["large:2", "small:0", "large:3", "small:1"]);
  });

  test("finishing twice, or admitting twice, changes nothing", () => {
    const p = releaseSets(admitBackup(emptyPlanner(), "b1", 3), 3).state;
    expect(admitBackup(p, "b1", 3)).toBe(p);
    const once = finishSet(p, { backupId: "b1", index: 0 });
    expect(finishSet(once, { backupId: "b1", index: 0 })).toBe(once);
  });

  test("a backup leaves the plan when its last set finishes", () => {
    let p: PlannerState = releaseSets(admitBackup(emptyPlanner(), "b1", 2), 5).state;
    p = finishSet(p, { backupId: "b1", index: 0 });
    expect(p.backups.map((b) => b.id)).toEqual(["b1"]);
    p = finishSet(p, { backupId: "b1", index: 1 });
    expect(p).toEqual({ running: [], backups: [], turn: p.turn });
  });

  test("the position of a waiting set counts the sets released before it, round-robin", () => {
    let p = admitBackup(admitBackup(emptyPlanner(), "a", 3), "b", 3);
    p = releaseSets(p, 1).state;
    expect([waitingPosition(p, { backupId: "a", index: 0 }), isReleased(p, { backupId: "a", index: 0 })]).toEqual([
      0,
      true,
    ]);
    expect(waitingPosition(p, { backupId: "b", index: 0 })).toBe(1);
    expect(waitingPosition(p, { backupId: "a", index: 1 })).toBe(2);
    expect(waitingPosition(p, { backupId: "b", index: 2 })).toBe(5);
  });

  test("a cancelled backup releases nothing more and names what it never released", () => {
    const p = releaseSets(admitBackup(emptyPlanner(), "b1", 5), 2).state;
    const { state, withdrawn } = withdrawBackup(p, "b1");
    expect(withdrawn).toEqual([2, 3, 4]);
    expect(releaseSets(state, 10).released).toEqual([]);
  });
});
