import { applyReport } from "./pipeline";
import { adoptOrphans, findOrphans, retryFailedDrains, type SvmStorage } from "./reconcile";
import { abortShadowCopySet } from "./server";
import { serverIn, testEnv, type StateName } from "./testing";

const ORPHAN = "99999999-9999-4999-8999-999999999999";
const SNAP = "rvss_11111111-1111-4111-8111-111111111111_22222222-2222-4222-8222-222222222222_20260101T000000Z";

function storage(copyIds: string[], o: Partial<SvmStorage> = {}): SvmStorage {
  return { shadowCopies: copyIds.map((shadowCopyId) => ({ volume: "vm_vol1", shadowCopyId })), exposedShares: [], snapshots: [], ...o };
}

describe("findOrphans", () => {
  test.each(["Added", "CreationInProgress", "Committed", "Exposed", "Recovered"] as StateName[])("a copy of a set %s is known, an unknown one is an orphan", (state) => {
    const { server, shadowCopyId } = serverIn(state);
    const o = findOrphans(storage([shadowCopyId, ORPHAN]), server, new Set());
    expect(o.shadowCopies.map((c) => c.shadowCopyId)).toEqual([ORPHAN]);
  });

  test("copies an aborted set still has to remove are known until their removal is confirmed", () => {
    const env = testEnv();
    const { server, setId, shadowCopyId } = serverIn("Committed", env);
    const aborted = abortShadowCopySet(server, { shadowCopySetId: setId }, env).server;
    expect(findOrphans(storage([shadowCopyId]), aborted, new Set()).shadowCopies).toEqual([]);
    const drained = applyReport(aborted, { type: "shadowCopiesDeleted", setId, shadowCopyIds: [shadowCopyId], snapshots: [] }, env).server;
    // Confirmed gone, then on storage again (a late duplicate command made it again): an orphan.
    expect(findOrphans(storage([shadowCopyId]), drained, new Set()).shadowCopies.map((c) => c.shadowCopyId)).toEqual([shadowCopyId]);
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
  test("takes orphans into a draining entry whose removal is published", () => {
    const env = testEnv();
    const { server } = serverIn("Exposed", env);
    const orphans = findOrphans(storage([ORPHAN], { snapshots: [{ volume: "vm_vol1", name: SNAP }] }), server, new Set());
    const out = adoptOrphans(server, orphans, env);
    const entry = out.server.draining.find((d) => d.setId === out.value!.drainSetId)!;
    expect([entry.code, entry.leftover, entry.shadowCopies.map((c) => c.id), entry.snapshots.map((s) => s.name)]).toEqual(["ORPHAN", true, [ORPHAN], [SNAP]]);
    expect(out.effects).toEqual([{ kind: "drain", setId: entry.setId }]);
  });

  test("checks again: what a record claimed since the orphans were found is left alone", () => {
    const env = testEnv();
    const { server, shadowCopyId } = serverIn("Committed", env);
    const stale = { shadowCopies: [{ volume: "vm_vol1", shadowCopyId }], exposedShares: [], snapshots: [] };
    const out = adoptOrphans(server, stale, env);
    expect([out.server, out.value, out.effects]).toEqual([server, null, []]);
  });
});

describe("failed removals", () => {
  test("a removal given up is kept with its failure, and the reconciler starts a new attempt", () => {
    const env = testEnv();
    const { server, setId } = serverIn("Committed", env);
    const aborted = abortShadowCopySet(server, { shadowCopySetId: setId }, env).server;
    const failed = applyReport(aborted, { type: "stepFailed", setId, step: "delete", reason: "EPERM", code: "STORAGE_FAILED" }, env);
    expect([failed.applied, failed.server.draining[0]!.failure?.reason]).toEqual([true, "EPERM"]);
    expect(applyReport(failed.server, { type: "stepFailed", setId, step: "delete", reason: "EPERM", code: "STORAGE_FAILED" }, env).applied).toBe(false);
    const retried = retryFailedDrains(failed.server, env);
    expect([retried.value, retried.server.draining[0]!.attempt, retried.server.draining[0]!.failure, retried.effects]).toEqual([1, 2, undefined, [{ kind: "drain", setId }]]);
    expect(retryFailedDrains(retried.server, env).value).toBe(0);
  });
});
