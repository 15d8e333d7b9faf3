import {
  applyReport,
  cancelManagedSet,
  enqueueManagedSet,
  queuePosition,
  startQueuedSet,
  type StepReport,
} from "./pipeline";
import { findOrphans, retryFailedRemovals } from "./reconcile";
import { findSet, forgetsUnknownSvm, holdsNothing } from "./record";
import { SVM, recordIn, testEnv } from "./testing";
import { abortShadowCopySet, commitBegin, exposeBegin } from "./operations";
import { remainingStorage } from "./removal";
import { emptySvmRecord, svmRecordFrom, type SvmRecord } from "./types";
import { HRESULT } from "./hresult";

const link = (backupId: string, index = 0) => ({ backupId, index });

function enqueue(s: SvmRecord, backupId: string, env = testEnv()): SvmRecord {
  const queued = enqueueManagedSet(
    s,
    { backup: link(backupId), shares: [{ share: "share1", files: ["vm1/a.vhdx"] }] },
    env,
  ).record;
  return startQueuedSet(queued, env).record;
}

/** The reports a healthy set receives, in order (each built from the record as it then stands). */
function happyReports(setId: string): ((s: SvmRecord) => StepReport)[] {
  return [
    () => ({
      type: "sharesResolved",
      setId,
      shares: [{ share: "share1", volume: "vm_vol1", sharePath: "dir1/vmdir", files: ["vm1/a.vhdx"] }],
    }),
    () => ({ type: "writersCheckpointed", setId, reports: [] }),
    (s) => ({
      type: "shadowCopiesCreated",
      setId,
      copies: [{ id: findSet(s, setId)!.shadowCopies[0]!.id, clonePath: ".shadowcopy/x", bytes: 5, fileCount: 1 }],
    }),
    () => ({ type: "shadowCopiesExposed", setId, copies: [] }),
    () => ({ type: "shadowCopiesSealed", setId }),
  ];
}

describe("managed sets", () => {
  test("a set on a free SVM starts at once, holding the context for its backup", () => {
    const env = testEnv();
    const queued = enqueueManagedSet(
      emptySvmRecord(SVM),
      { backup: link("b1"), shares: [{ share: "share1", files: [] }] },
      env,
    );
    const out = startQueuedSet(queued.record, env);
    const set = out.record.sets[0]!;
    expect([set.status, set.pending?.kind, out.record.clientAddress]).toEqual(["Started", "resolve", "backup:b1"]);
    expect(out.effects.map((e) => e.kind)).toEqual(["started", "command"]);
  });

  test("enqueueing the same plan entry twice changes nothing", () => {
    const s = enqueue(emptySvmRecord(SVM), "b1");
    expect(enqueueManagedSet(s, { backup: link("b1"), shares: [] }, testEnv()).record).toBe(s);
  });

  test("walks every phase in order; finalize seals, snapshots each volume and removes the copies", () => {
    const env = testEnv();
    let s = enqueue(emptySvmRecord(SVM), "b1", env);
    const setId = s.sets[0]!.id;
    const trail: string[] = [];
    for (const r of happyReports(setId)) {
      const out = applyReport(s, r(s), env);
      expect(out.applied).toBe(true);
      s = out.record;
      const set = findSet(s, setId)!;
      trail.push(`${set.status}/${set.pending?.kind}`);
    }
    // With no writer at the checkpoint there is nobody to auto-recover: Exposed goes straight to finalize.
    expect(trail).toEqual([
      "Added/checkpoint",
      "CreationInProgress/create",
      "Committed/expose",
      "Exposed/finalize",
      "Recovered/finalize",
    ]);
    expect(s.contextSet).toBe(false);
    const snap = findSet(s, setId)!.snapshots[0]!;
    expect([snap.volume, snap.name.startsWith(`rvss_b1_${setId}_`), snap.takenAt]).toEqual([
      "vm_vol1",
      true,
      undefined,
    ]);
    const taken = applyReport(
      s,
      { type: "snapshotTaken", setId, volume: snap.volume, name: snap.name, takenAt: 42 },
      env,
    );
    expect([taken.effects, findSet(taken.record, setId)?.status]).toEqual([[], "Recovered"]);
    const copyId = findSet(taken.record, setId)!.shadowCopies[0]!.id;
    const deleted = applyReport(
      taken.record,
      { type: "shadowCopiesDeleted", setId, shadowCopyIds: [copyId], snapshots: [] },
      env,
    );
    expect([findSet(deleted.record, setId), deleted.record.removals]).toEqual([undefined, []]);
    const fin = deleted.effects[0];
    expect(
      fin?.kind === "finished" && [fin.entry.outcome, fin.entry.backup, fin.entry.snapshots.map((x) => x.takenAt)],
    ).toEqual(["completed", link("b1"), [42]]);
  });

  test("finalize results may arrive in any order", () => {
    const env = testEnv();
    let s = enqueue(emptySvmRecord(SVM), "b1", env);
    const setId = s.sets[0]!.id;
    for (const r of happyReports(setId).slice(0, 4)) s = applyReport(s, r(s), env).record;
    const set = findSet(s, setId)!;
    const snap = set.snapshots[0]!;
    s = applyReport(
      s,
      { type: "shadowCopiesDeleted", setId, shadowCopyIds: [set.shadowCopies[0]!.id], snapshots: [] },
      env,
    ).record;
    s = applyReport(s, { type: "snapshotTaken", setId, volume: snap.volume, name: snap.name, takenAt: 7 }, env).record;
    const sealed = applyReport(s, { type: "shadowCopiesSealed", setId }, env);
    expect(sealed.effects.map((e) => e.kind)).toEqual(["finished"]);
  });

  test.each([
    ["before the snapshot was taken, the set aborts and its storage is removed", false, "aborted"],
    ["after the backup was taken, the set completes once a new attempt removes the copies", true, "completed"],
  ])("finalize failing for good %s", (_, snapshotTaken, outcome) => {
    const env = testEnv();
    let s = enqueue(emptySvmRecord(SVM), "b1", env);
    const setId = s.sets[0]!.id;
    for (const r of happyReports(setId)) s = applyReport(s, r(s), env).record;
    const set = findSet(s, setId)!;
    const snap = set.snapshots[0]!;
    if (snapshotTaken)
      s = applyReport(
        s,
        { type: "snapshotTaken", setId, volume: snap.volume, name: snap.name, takenAt: 7 },
        env,
      ).record;
    const failed = applyReport(
      s,
      { type: "stepFailed", setId, step: "finalize", reason: "EBUSY", code: "STORAGE_FAILED" },
      env,
    );
    const entry = failed.record.removals.find((d) => d.setId === setId)!;
    expect([findSet(failed.record, setId), entry.outcome]).toEqual([undefined, outcome]);
    if (!snapshotTaken) return;
    // Nothing is published until the reconciler starts a new attempt; the snapshot is kept.
    expect([failed.effects, entry.failure?.step, remainingStorage(entry)]).toEqual([
      [],
      "removal",
      { shadowCopies: set.shadowCopies, snapshots: [] },
    ]);
    const retried = retryFailedRemovals(failed.record, env);
    expect(retried.effects).toEqual([{ kind: "removal", setId }]);
    const done = applyReport(
      retried.record,
      { type: "shadowCopiesDeleted", setId, shadowCopyIds: [set.shadowCopies[0]!.id], snapshots: [] },
      env,
    );
    const fin = done.effects[0];
    expect(fin?.kind === "finished" && [fin.entry.outcome, fin.entry.snapshots.map((x) => x.takenAt)]).toEqual([
      "completed",
      [7],
    ]);
  });

  test("a duplicate report is not applied and changes nothing", () => {
    const env = testEnv();
    const s = enqueue(emptySvmRecord(SVM), "b1", env);
    const setId = s.sets[0]!.id;
    const resolved = applyReport(s, happyReports(setId)[0]!(s), env).record;
    const again = applyReport(resolved, happyReports(setId)[0]!(s), env);
    expect(again.applied).toBe(false);
    expect(again.record).toBe(resolved);
  });

  test("one set in creation per SVM: the next waits in the queue until the first is Recovered", () => {
    const env = testEnv();
    let s = enqueue(emptySvmRecord(SVM), "b1", env);
    s = enqueue(s, "b2", env);
    expect(s.sets.map((x) => x.backup?.backupId)).toEqual(["b1"]);
    expect(queuePosition(s, link("b2"))).toBe(1);
    const setId = s.sets[0]!.id;
    for (const r of happyReports(setId)) {
      s = startQueuedSet(applyReport(s, r(s), env).record, env).record;
    }
    expect(s.sets.map((x) => [x.backup?.backupId, x.status])).toEqual([
      ["b1", "Recovered"],
      ["b2", "Started"],
    ]);
  });

  test("a failed step aborts the set; its storage is removed and the backup learns the reason", () => {
    const env = testEnv();
    let s = enqueue(emptySvmRecord(SVM), "b1", env);
    const setId = s.sets[0]!.id;
    for (const r of happyReports(setId).slice(0, 2)) s = applyReport(s, r(s), env).record;
    const out = applyReport(
      s,
      { type: "stepFailed", setId, step: "create", reason: "disk full", code: "STORAGE_FAILED" },
      env,
    );
    expect(out.record.sets).toEqual([]);
    expect(out.record.contextSet).toBe(false);
    expect(out.effects.map((e) => e.kind)).toEqual(["aborted", "removal"]);
    expect(out.record.removals[0]).toEqual(
      expect.objectContaining({ outcome: "aborted", reason: "disk full", code: "STORAGE_FAILED" }),
    );
  });

  test("rejected shares abort before any storage was touched", () => {
    const env = testEnv();
    const s = enqueue(emptySvmRecord(SVM), "b1", env);
    const out = applyReport(
      s,
      {
        type: "stepFailed",
        setId: s.sets[0]!.id,
        step: "resolve",
        reason: 'share "nope" does not exist',
        code: "SHARE_NOT_FOUND",
      },
      env,
    );
    expect(out.effects.map((e) => e.kind)).toEqual(["aborted", "finished"]);
  });

  test.each([
    ["SVM_NOT_FOUND", "nothing else", true],
    ["SHARE_NOT_FOUND", "nothing else", false],
    ["SVM_NOT_FOUND", "another backup's set queued", false],
  ] as const)("a set rejected with %s, %s on the SVM: its record may be forgotten: %s", (code, others, forgets) => {
    const env = testEnv();
    let s = enqueue(emptySvmRecord(SVM), "b1", env);
    if (others !== "nothing else")
      s = enqueueManagedSet(s, { backup: link("b2"), shares: [{ share: "share1", files: [] }] }, env).record;
    const out = applyReport(
      s,
      { type: "stepFailed", setId: s.sets[0]!.id, step: "resolve", reason: "not there", code },
      env,
    );
    expect(forgetsUnknownSvm(out)).toBe(forgets);
    expect(holdsNothing(out.record)).toBe(others === "nothing else");
  });

  test("a report for a set no longer held changes nothing; what it made is the reconciler's", () => {
    const env = testEnv();
    const s = emptySvmRecord(SVM);
    const out = applyReport(
      s,
      {
        type: "shadowCopiesCreated",
        setId: "gone",
        copies: [{ id: "c1", clonePath: ".shadowcopy/c1", bytes: 1, fileCount: 1, volume: "vm_vol1", share: "share1" }],
      },
      env,
    );
    expect([out.applied, out.record, out.effects]).toEqual([false, s, []]);
    const storage = { shadowCopies: [{ volume: "vm_vol1", shadowCopyId: "c1" }], exposedShares: [], snapshots: [] };
    expect(findOrphans(storage, out.record, new Set()).shadowCopies).toEqual([
      { volume: "vm_vol1", shadowCopyId: "c1" },
    ]);
  });

  test("cancelling a queued set takes it out of the queue", () => {
    const env = testEnv();
    let s = enqueue(emptySvmRecord(SVM), "b1", env);
    s = enqueue(s, "b2", env);
    const out = cancelManagedSet(s, link("b2"), env);
    expect(out.record.queue).toEqual([]);
    const fin = out.effects[0];
    expect(fin?.kind === "finished" && [fin.entry.code, fin.entry.backup]).toEqual(["CANCELLED", link("b2")]);
  });
});

describe("writers", () => {
  const step = (s: "checkpoint" | "thaw" | "auto_recover", ok: boolean, writerId = "w1") => ({
    step: s,
    writerId,
    name: `app-${writerId}`,
    ok,
    reason: ok ? "" : "did not answer within 5000 ms",
    detail: "",
    at: 1,
    elapsedMs: 5,
  });

  function managed(policy: "fail" | "continue") {
    const env = testEnv();
    let s = enqueueManagedSet(
      emptySvmRecord(SVM),
      { backup: link("b1"), shares: [{ share: "share1", files: [] }], onWriterError: policy },
      env,
    ).record;
    s = startQueuedSet(s, env).record;
    const setId = s.sets[0]!.id;
    s = applyReport(s, happyReports(setId)[0]!(s), env).record;
    return { env, s, setId };
  }

  test.each([
    ["fail", ["aborted", "finished"]],
    ["continue", ["creationStarted", "command"]],
  ] as const)("a writer that fails to checkpoint under %s", (policy, effects) => {
    const { env, s, setId } = managed(policy);
    const out = applyReport(
      s,
      {
        type: "writersCheckpointed",
        setId,
        reports: [step("checkpoint", true, "w1"), step("checkpoint", false, "w2")],
      },
      env,
    );
    expect(out.effects.map((e) => e.kind)).toEqual(effects);
    const aborted = out.effects.find((e) => e.kind === "aborted");
    if (aborted?.kind === "aborted")
      expect([aborted.code, aborted.reason]).toEqual([
        "WRITER_FAILED",
        'writer "app-w2" (w2) failed to checkpoint: did not answer within 5000 ms',
      ]);
    const fin = out.effects.find((e) => e.kind === "finished");
    if (fin?.kind === "finished") expect(fin.entry.writers).toEqual(["w1", "w2"]);
  });

  test("once the copies exist the writers that checkpointed are told to thaw, while exposing goes on", () => {
    const { env, s: s0, setId } = managed("fail");
    let s = applyReport(s0, { type: "writersCheckpointed", setId, reports: [step("checkpoint", true)] }, env).record;
    const out = applyReport(s, happyReports(setId)[2]!(s), env);
    s = out.record;
    expect(out.effects).toEqual([
      { kind: "command", setId },
      { kind: "thaw", setId, writers: ["w1"] },
    ]);
    expect(findSet(s, setId)!.pending?.kind).toBe("expose");
  });

  test("a failed thaw aborts an unsealed set under fail, and is only recorded once sealed", () => {
    const { env, s: s0, setId } = managed("fail");
    let s = applyReport(s0, { type: "writersCheckpointed", setId, reports: [step("checkpoint", true)] }, env).record;
    s = applyReport(s, happyReports(setId)[2]!(s), env).record;
    // The set is exposing: its removal waits for the expose to report, then removes what it made.
    const aborted = applyReport(s, { type: "writersThawed", setId, reports: [step("thaw", false)] }, env);
    expect([aborted.effects.map((e) => e.kind), aborted.record.removals[0]?.waitsFor?.step]).toEqual([
      ["aborted"],
      "expose",
    ]);
    const exposedLate = applyReport(aborted.record, happyReports(setId)[3]!(aborted.record), env);
    expect([exposedLate.effects, exposedLate.record.removals[0]?.waitsFor]).toEqual([
      [{ kind: "removal", setId }],
      undefined,
    ]);
    s = applyReport(s, happyReports(setId)[3]!(s), env).record;
    s = applyReport(s, { type: "writersRecovered", setId, reports: [step("auto_recover", true)] }, env).record;
    s = applyReport(s, happyReports(setId)[4]!(s), env).record;
    const late = applyReport(s, { type: "writersThawed", setId, reports: [step("thaw", false)] }, env);
    expect([late.effects, findSet(late.record, setId)!.status]).toEqual([[], "Recovered"]);
  });
});

describe("a requestor's storage step (MS-FSRVP 3.1.4.5-6)", () => {
  const created = (setId: string, id: string): StepReport => ({
    type: "shadowCopiesCreated",
    setId,
    copies: [{ id, clonePath: `.shadowcopy/${id}`, bytes: 10, fileCount: 1 }],
  });

  test("the copies made after Commit timed out keep the set CreationInProgress until Commit is retried", () => {
    const env = testEnv();
    const { record, setId, shadowCopyId } = recordIn("CreationInProgress", env);
    const made = applyReport(record, created(setId, shadowCopyId), env).record;
    expect([findSet(made, setId)!.status, findSet(made, setId)!.pending?.done]).toEqual(["CreationInProgress", true]);
    // A different call sees the spec's state: Expose is not legal before Commit completed.
    expect(exposeBegin(made, { shadowCopySetId: setId }, env).hresult).toBe(HRESULT.FSRVP_E_BAD_STATE);
    const retried = commitBegin(made, { shadowCopySetId: setId }, env);
    expect([retried.hresult, findSet(retried.record, setId)!.status, findSet(retried.record, setId)!.pending]).toEqual([
      HRESULT.ZERO,
      "Committed",
      undefined,
    ]);
    expect(findSet(retried.record, setId)!.shadowCopies[0]!.clonePath).toBe(`.shadowcopy/${shadowCopyId}`);
    // A duplicate report changes nothing.
    expect(applyReport(made, created(setId, shadowCopyId), env).applied).toBe(false);
  });

  test("an exposed set stays Committed until Expose is retried", () => {
    const env = testEnv();
    const { record, setId, shadowCopyId } = recordIn("Committed", env);
    const exposing = exposeBegin(record, { shadowCopySetId: setId }, env).record;
    const done = applyReport(
      exposing,
      { type: "shadowCopiesExposed", setId, copies: [{ id: shadowCopyId, accessPath: "/x" }] },
      env,
    ).record;
    expect(findSet(done, setId)!.status).toBe("Committed");
    const retried = exposeBegin(done, { shadowCopySetId: setId }, env);
    expect([retried.hresult, findSet(retried.record, setId)!.status]).toEqual([HRESULT.ZERO, "Exposed"]);
    expect(findSet(retried.record, setId)!.shadowCopies[0]!.accessPath).toBe("/x");
  });

  test.each([
    ["the late copies", (setId: string, id: string) => created(setId, id)],
    [
      "the create's failure",
      (setId: string): StepReport => ({
        type: "stepFailed",
        setId,
        step: "create",
        reason: "EIO",
        code: "STORAGE_FAILED",
      }),
    ],
  ])("Abort during CreationInProgress removes storage once %s are reported, not before", (_what, late) => {
    const env = testEnv();
    const { record, setId, shadowCopyId } = recordIn("CreationInProgress", env);
    const aborted = abortShadowCopySet(record, { shadowCopySetId: setId }, env);
    expect(aborted.effects.map((e) => e.kind)).toEqual(["aborted"]);
    expect(aborted.record.removals[0]!.waitsFor).toEqual({ step: "create", attempt: 1 });
    const after = applyReport(aborted.record, late(setId, shadowCopyId), env);
    expect([after.effects, after.record.removals[0]!.waitsFor]).toEqual([[{ kind: "removal", setId }], undefined]);
    expect(remainingStorage(after.record.removals[0]!).shadowCopies.map((c) => c.id)).toEqual([shadowCopyId]);
  });

  test("Abort after the copies were made but before Commit completed removes them at once", () => {
    const env = testEnv();
    const { record, setId, shadowCopyId } = recordIn("CreationInProgress", env);
    const made = applyReport(record, created(setId, shadowCopyId), env).record;
    const aborted = abortShadowCopySet(made, { shadowCopySetId: setId }, env);
    expect(aborted.effects.map((e) => e.kind)).toEqual(["aborted", "removal"]);
  });
});

test("a record stored before removals had their name reads with its pending removals", () => {
  const env = testEnv();
  const { record, setId } = recordIn("Exposed", env);
  const aborted = abortShadowCopySet(record, { shadowCopySetId: setId }, env).record;
  const { removals, ...rest } = aborted;
  const legacy = { ...rest, draining: removals } as unknown as SvmRecord;
  expect(svmRecordFrom(legacy)).toEqual(aborted);
  expect(svmRecordFrom(aborted)).toBe(aborted);
});
