import { applyReport } from "./pipeline";
import {
  adoptOrphans,
  findOrphans,
  retryFailedRemovals,
  stopWaitingForLostStep,
  retryLostCommand,
  retryLostRemoval,
  type SvmStorage,
} from "./reconcile";
import { abortShadowCopySet, exposeBegin } from "./operations";
import { findSet } from "./record";
import { recordIn, testEnv, type StateName } from "./testing";
import type { SvmRecord } from "./types";

const ORPHAN = "99999999-9999-4999-8999-999999999999";
const SNAP = "rvss_11111111-1111-4111-8111-111111111111_22222222-2222-4222-8222-222222222222_20260101T000000Z";

function storage(copyIds: string[], o: Partial<SvmStorage> = {}): SvmStorage {
  return {
    shadowCopies: copyIds.map((shadowCopyId) => ({ volume: "vm_vol1", shadowCopyId })),
    exposedShares: [],
    snapshots: [],
    ...o,
  };
}

describe("findOrphans", () => {
  test.each(["Added", "CreationInProgress", "Committed", "Exposed", "Recovered"] as StateName[])(
    "a copy of a set %s is known, an unknown one is an orphan",
    (state) => {
      const { record, shadowCopyId } = recordIn(state);
      const o = findOrphans(storage([shadowCopyId, ORPHAN]), record, new Set());
      expect(o.shadowCopies.map((c) => c.shadowCopyId)).toEqual([ORPHAN]);
    },
  );

  test("copies an aborted set still has to remove are known until their removal is confirmed", () => {
    const env = testEnv();
    const { record, setId, shadowCopyId } = recordIn("Committed", env);
    const aborted = abortShadowCopySet(record, { shadowCopySetId: setId }, env).record;
    expect(findOrphans(storage([shadowCopyId]), aborted, new Set()).shadowCopies).toEqual([]);
    const drained = applyReport(
      aborted,
      { type: "shadowCopiesDeleted", setId, shadowCopyIds: [shadowCopyId], snapshots: [] },
      env,
    ).record;
    // Confirmed gone, then on storage again (a late duplicate command made it again): an orphan.
    expect(findOrphans(storage([shadowCopyId]), drained, new Set()).shadowCopies.map((c) => c.shadowCopyId)).toEqual([
      shadowCopyId,
    ]);
  });

  test("what the record knew before the storage was listed is no orphan in this run", () => {
    const env = testEnv();
    const { record, setId, shadowCopyId } = recordIn("Committed", env);
    const aborted = abortShadowCopySet(record, { shadowCopySetId: setId }, env).record;
    // Listed while its removal ran; the removal was confirmed before the record was read.
    const drained = applyReport(
      aborted,
      { type: "shadowCopiesDeleted", setId, shadowCopyIds: [shadowCopyId], snapshots: [] },
      env,
    ).record;
    expect(findOrphans(storage([shadowCopyId]), drained, new Set(), aborted).shadowCopies).toEqual([]);
    // A next run, whose earlier read no longer knows it, finds it if it is still there.
    expect(
      findOrphans(storage([shadowCopyId]), drained, new Set(), drained).shadowCopies.map((c) => c.shadowCopyId),
    ).toEqual([shadowCopyId]);
  });

  test("an exposed share of an unknown copy is an orphan; its copy is removed once", () => {
    const exposed = [{ name: `share1@{${ORPHAN}}`, volume: "vm_vol1", shadowCopyId: ORPHAN }];
    const o = findOrphans(storage([ORPHAN], { exposedShares: exposed }), null, new Set());
    expect([o.shadowCopies.length, o.exposedShares]).toEqual([1, [`share1@{${ORPHAN}}`]]);
  });

  test("an rvss snapshot is an orphan unless a set plans it or a backup lists it", () => {
    const snaps = storage([], { snapshots: [{ volume: "vm_vol1", name: SNAP }] });
    expect(findOrphans(snaps, null, new Set()).snapshots.map((s) => s.name)).toEqual([SNAP]);
    expect(findOrphans(snaps, null, new Set([SNAP])).snapshots).toEqual([]);
  });
});

describe("adoptOrphans", () => {
  test("takes orphans into a pending removal whose removal is published", () => {
    const env = testEnv();
    const { record } = recordIn("Exposed", env);
    const orphans = findOrphans(
      storage([ORPHAN], { snapshots: [{ volume: "vm_vol1", name: SNAP }] }),
      record,
      new Set(),
    );
    const out = adoptOrphans(record, orphans, env);
    const entry = out.record.removals.find((d) => d.setId === out.value!.drainSetId)!;
    expect([
      entry.code,
      entry.leftover,
      entry.shadowCopies.map((c) => c.id),
      entry.snapshots.map((s) => s.name),
    ]).toEqual(["ORPHAN", true, [ORPHAN], [SNAP]]);
    expect(out.effects).toEqual([{ kind: "removal", setId: entry.setId }]);
  });

  test("checks again: what a record claimed since the orphans were found is left alone", () => {
    const env = testEnv();
    const { record, shadowCopyId } = recordIn("Committed", env);
    const stale = { shadowCopies: [{ volume: "vm_vol1", shadowCopyId }], exposedShares: [], snapshots: [] };
    const out = adoptOrphans(record, stale, env);
    expect([out.record, out.value, out.effects]).toEqual([record, null, []]);
  });
});

describe("failed removals", () => {
  test("a removal given up is kept with its failure, and the reconciler starts a new attempt", () => {
    const env = testEnv();
    const { record, setId } = recordIn("Committed", env);
    const aborted = abortShadowCopySet(record, { shadowCopySetId: setId }, env).record;
    const failed = applyReport(
      aborted,
      { type: "stepFailed", setId, step: "removal", reason: "EPERM", code: "STORAGE_FAILED" },
      env,
    );
    expect([failed.applied, failed.record.removals[0]!.failure?.reason]).toEqual([true, "EPERM"]);
    expect(
      applyReport(
        failed.record,
        { type: "stepFailed", setId, step: "removal", reason: "EPERM", code: "STORAGE_FAILED" },
        env,
      ).applied,
    ).toBe(false);
    const retried = retryFailedRemovals(failed.record, env);
    expect([
      retried.value,
      retried.record.removals[0]!.attempt,
      retried.record.removals[0]!.failure,
      retried.effects,
    ]).toEqual([1, 2, undefined, [{ kind: "removal", setId }]]);
    expect(retryFailedRemovals(retried.record, env).value).toBe(0);
  });

  test("a lost removal gets a new attempt once; a failed one waits for retryFailedRemovals", () => {
    const env = testEnv();
    const { record, setId } = recordIn("Committed", env);
    const aborted = abortShadowCopySet(record, { shadowCopySetId: setId }, env).record;
    env.tick(60_000);
    const retried = retryLostRemoval(aborted, { setId, attempt: 1 }, env);
    expect([
      retried.value,
      retried.record.removals[0]!.attempt,
      retried.record.removals[0]!.since,
      retried.effects,
    ]).toEqual([true, 2, env.now, [{ kind: "removal", setId }]]);
    expect(retryLostRemoval(retried.record, { setId, attempt: 1 }, env).record).toBe(retried.record);
    const failed = applyReport(
      aborted,
      { type: "stepFailed", setId, step: "removal", reason: "EPERM", code: "STORAGE_FAILED" },
      env,
    ).record;
    expect(retryLostRemoval(failed, { setId, attempt: 1 }, env).value).toBe(false);
  });
});

describe("lost commands", () => {
  const env = testEnv();
  const creating = recordIn("CreationInProgress", env);
  const exposing = (() => {
    const { record, setId } = recordIn("Committed", env);
    return { record: exposeBegin(record, { shadowCopySetId: setId }, env).record, setId };
  })();
  const pendingOf = (s: SvmRecord, setId: string) => findSet(s, setId)?.pending;

  test.each([
    ["create", creating],
    ["expose", exposing],
  ] as const)("a lost %s command gets a new attempt, so a new command ID, sent at once", (kind, { record, setId }) => {
    const before = pendingOf(record, setId)!;
    env.tick(60_000);
    const out = retryLostCommand(record, { setId, kind, attempt: before.attempt }, env);
    expect([out.value, pendingOf(out.record, setId), out.effects]).toEqual([
      true,
      { kind, attempt: before.attempt + 1, since: env.now },
      [{ kind: "command", setId }],
    ]);
    // The input record is left as it was (a decision works on a copy).
    expect(pendingOf(record, setId)).toEqual(before);
  });

  test("nothing changes when another replica retried it first, or the set moved on", () => {
    const { record, setId } = creating;
    const retried = retryLostCommand(record, { setId, kind: "create", attempt: 1 }, env).record;
    const again = retryLostCommand(retried, { setId, kind: "create", attempt: 1 }, env);
    expect([again.value, again.record, again.effects]).toEqual([false, retried, []]);
    expect(retryLostCommand(record, { setId, kind: "expose", attempt: 1 }, env).record).toBe(record);
  });

  test("nothing changes for a set that is gone or waits for nothing", () => {
    const { record, setId } = recordIn("Added", env);
    expect(retryLostCommand(record, { setId, kind: "create", attempt: 1 }, env).value).toBe(false);
    expect(
      retryLostCommand(record, { setId: "99999999-9999-4999-8999-999999999999", kind: "create", attempt: 1 }, env)
        .value,
    ).toBe(false);
  });
});

describe("a removal waiting for a step that was lost", () => {
  test("stops waiting for the attempt the caller found lost, and only for it", () => {
    const env = testEnv();
    const { record, setId } = recordIn("CreationInProgress", env);
    const aborted = abortShadowCopySet(record, { shadowCopySetId: setId }, env).record;
    expect(aborted.removals[0]!.waitsFor).toEqual({ step: "create", attempt: 1 });
    const other = stopWaitingForLostStep(aborted, { setId, step: "create", attempt: 2 }, env);
    expect([other.value, other.record]).toEqual([false, aborted]);
    env.tick(90_000);
    const out = stopWaitingForLostStep(aborted, { setId, step: "create", attempt: 1 }, env);
    expect([out.value, out.effects, out.record.removals[0]!.waitsFor, out.record.removals[0]!.since]).toEqual([
      true,
      [{ kind: "removal", setId }],
      undefined,
      env.now,
    ]);
  });
});
