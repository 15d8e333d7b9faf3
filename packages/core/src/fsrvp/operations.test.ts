import { HRESULT, describeHResult } from "./hresult";
import * as operations from "./operations";
import * as record from "./record";
import * as removal from "./removal";
import * as timer from "./timer";

const op = { ...operations, ...record, ...removal, ...timer };
import { CLIENT, STATES, SVM, UNC1, UNC2, found, recordIn, testEnv, type StateName } from "./testing";

const { ZERO, FSRVP_E_BAD_STATE: BAD, FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS: IN_PROGRESS } = HRESULT;

type Call = (s: ReturnType<typeof recordIn>) => { hresult: number; record: unknown };

const env = testEnv();
const calls: Record<string, Call> = {
  StartShadowCopySet: ({ record }) =>
    op.startShadowCopySet(
      record,
      { clientShadowCopySetId: "22222222-2222-4222-8222-222222222222", client: CLIENT },
      env,
    ),
  AddToShadowCopySet: ({ record, setId }) =>
    op.addToShadowCopySet(record, { shadowCopySetId: setId, shareNameUnc: UNC2, lookup: found("share2") }, env),
  PrepareShadowCopySet: ({ record, setId }) => op.prepareShadowCopySet(record, { shadowCopySetId: setId }, env),
  CommitShadowCopySet: ({ record, setId }) => op.commitBegin(record, { shadowCopySetId: setId }, env),
  ExposeShadowCopySet: ({ record, setId }) => op.exposeBegin(record, { shadowCopySetId: setId }, env),
  RecoveryCompleteShadowCopySet: ({ record, setId }) =>
    op.recoveryCompleteBegin(record, { shadowCopySetId: setId }, env),
  AbortShadowCopySet: ({ record, setId }) => op.abortShadowCopySet(record, { shadowCopySetId: setId }, env),
  GetShareMapping: ({ record, setId, shadowCopyId }) =>
    op.getShareMapping(record, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1, level: 1 }, env),
  DeleteShareMapping: ({ record, setId, shadowCopyId }) =>
    op.deleteShareMapping(record, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1 }, env),
};

// MS-FSRVP 3.1.4: which call is legal in which state (columns: the STATES in order).
const legal: Record<string, number[]> = {
  //                               Started      Added        CreationInP. Committed    Exposed      Recovered
  StartShadowCopySet: [IN_PROGRESS, IN_PROGRESS, IN_PROGRESS, IN_PROGRESS, IN_PROGRESS, BAD],
  AddToShadowCopySet: [ZERO, ZERO, BAD, BAD, BAD, BAD],
  PrepareShadowCopySet: [BAD, ZERO, BAD, BAD, BAD, BAD],
  CommitShadowCopySet: [BAD, ZERO, ZERO, BAD, BAD, BAD],
  ExposeShadowCopySet: [BAD, BAD, BAD, ZERO, BAD, BAD],
  RecoveryCompleteShadowCopySet: [BAD, BAD, BAD, BAD, ZERO, BAD],
  AbortShadowCopySet: [ZERO, ZERO, ZERO, ZERO, ZERO, ZERO],
  GetShareMapping: [BAD, BAD, BAD, BAD, ZERO, BAD],
  DeleteShareMapping: [BAD, BAD, BAD, BAD, ZERO, ZERO],
};

describe("FSRVP legal calls per state", () => {
  const rows = Object.entries(legal).flatMap(([name, codes]) =>
    STATES.map((state, i) => [name, state, describeHResult(codes[i]!)] as const),
  );
  test.each(rows)("%s in %s answers %s", (name, state, expected) => {
    const r = calls[name]!(recordIn(state as StateName));
    expect(describeHResult(r.hresult)).toBe(expected);
  });

  test.each(Object.keys(calls).filter((n) => n !== "StartShadowCopySet"))("%s on an unknown set", (name) => {
    const s = recordIn("Exposed");
    const r = calls[name]!({ ...s, setId: "99999999-9999-4999-8999-999999999999" });
    const expected =
      name === "DeleteShareMapping" ? HRESULT.FSRVP_E_OBJECT_NOT_FOUND : HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH;
    expect(describeHResult(r.hresult)).toBe(describeHResult(expected));
  });
});

/** Freezes `v` and everything in it, so any write to it throws (modules are strict). */
function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

describe("FSRVP calls are copy-on-write", () => {
  const rows = Object.keys(calls).flatMap((name) => STATES.map((state) => [name, state] as const));
  test.each(rows)("%s in %s leaves its input record as it was", (name, state) => {
    const s = recordIn(state as StateName);
    const before = JSON.stringify(s.record);
    deepFreeze(s.record);
    calls[name]!(s);
    expect(JSON.stringify(s.record)).toBe(before);
  });

  test("a draft equals its record and shares no object with it", () => {
    const { record: r } = recordIn("Exposed");
    const d = op.draft(r);
    expect(d).toEqual(r);
    const objects = (v: unknown, out: unknown[] = []): unknown[] => {
      if (typeof v === "object" && v !== null) {
        out.push(v);
        for (const x of Object.values(v)) objects(x, out);
      }
      return out;
    };
    const mine = new Set(objects(r));
    expect(objects(d).filter((o) => mine.has(o))).toEqual([]);
  });
});

describe("FSRVP calls are their client's: another principal gets E_ACCESSDENIED, an admin may act", () => {
  const owner = { principal: CLIENT, admin: false };
  const other = { principal: "spiffe://rvss.local/someone-else", admin: false };
  const admin = { principal: "spiffe://rvss.local/admin", admin: true };
  /** A call as the agent API makes it: the caller is checked first, then the operation runs. */
  const callAs = (caller: operations.AgentCaller, name: string, s: ReturnType<typeof recordIn>) =>
    op.refuseCaller(s.record, caller, name === "StartShadowCopySet" ? undefined : s.setId) ?? calls[name]!(s);
  const rows = Object.entries(legal).flatMap(([name, codes]) =>
    STATES.map((state, i) => [name, state, describeHResult(codes[i]!)] as const),
  );
  test.each(rows)("%s in %s: the owner and an admin get %s", (name, state, expected) => {
    const s = recordIn(state as StateName);
    const refused = callAs(other, name, s);
    // Start after RecoveryComplete: no client holds the context any more, so anyone may start.
    const free = name === "StartShadowCopySet" && state === "Recovered";
    expect(describeHResult(refused.hresult)).toBe(free ? expected : describeHResult(HRESULT.E_ACCESSDENIED));
    if (!free) expect(refused.record).toBe(s.record);
    expect(describeHResult(callAs(owner, name, s).hresult)).toBe(expected);
    expect(describeHResult(callAs(admin, name, recordIn(state as StateName)).hresult)).toBe(expected);
  });

  test("an unknown set is answered as unknown, whoever asks; a managed set is no agent caller's", () => {
    const s = recordIn("Exposed");
    expect(op.refuseCaller(s.record, other, "99999999-9999-4999-8999-999999999999")).toBeNull();
    const managed = { ...s.record, sets: s.record.sets.map((x) => ({ ...x, client: "backup:b1" })) };
    expect(op.refuseCaller(managed, owner, s.setId)?.hresult).toBe(HRESULT.E_ACCESSDENIED);
  });
});

describe("FSRVP transitions", () => {
  test("Start without a context is BAD_STATE", () => {
    expect(calls.StartShadowCopySet!(recordIn("NoContext")).hresult).toBe(BAD);
  });

  test("a set goes Started -> Added -> CreationInProgress -> Committed -> Exposed -> Recovered", () => {
    const seen = (["Started", "Added", "CreationInProgress", "Committed", "Exposed", "Recovered"] as StateName[]).map(
      (st) => {
        const { record, setId } = recordIn(st);
        return op.findSet(record, setId)!.status;
      },
    );
    expect(seen).toEqual(["Started", "Added", "CreationInProgress", "Committed", "Exposed", "Recovered"]);
  });

  test("RecoveryComplete releases the context and stops the timer", () => {
    const { record } = recordIn("Recovered");
    expect(record.contextSet).toBe(false);
    expect(record.clientAddress).toBeNull();
    expect(record.timer).toBeNull();
  });

  test("the same share twice is OBJECT_ALREADY_EXISTS and re-arms 180 s", () => {
    const e = testEnv();
    const { record, setId } = recordIn("Added", e);
    const r = op.addToShadowCopySet(
      record,
      { shadowCopySetId: setId, shareNameUnc: "\\\\vs1\\SHARE1\\", lookup: found("share1") },
      e,
    );
    expect(r.hresult).toBe(HRESULT.FSRVP_E_OBJECT_ALREADY_EXISTS);
    expect(r.record.timer!.deadline - e.now).toBe(180_000);
  });

  test.each([
    [{ kind: "notFound" as const, reason: "no such share" }, HRESULT.FSRVP_E_OBJECT_NOT_FOUND],
    [{ kind: "notSupported" as const, reason: "junction below" }, HRESULT.FSRVP_E_NOT_SUPPORTED],
  ])("Add with lookup %j answers %s", (lookup, expected) => {
    const { record, setId } = recordIn("Started");
    expect(op.addToShadowCopySet(record, { shadowCopySetId: setId, shareNameUnc: UNC2, lookup }, env).hresult).toBe(
      expected,
    );
  });

  test("Commit failure goes back to Added with the failure recorded", () => {
    const e = testEnv();
    const { record, setId } = recordIn("CreationInProgress", e);
    const r = op.commitFailed(
      record,
      { shadowCopySetId: setId, failure: { step: "create", reason: "disk full", code: "STORAGE_FAILED", at: 1 } },
      e,
    );
    const set = op.findSet(r.record, setId)!;
    expect(set.status).toBe("Added");
    expect(set.failure?.reason).toBe("disk full");
    expect(r.record.timer!.deadline - e.now).toBe(180_000);
  });

  test("Commit retried while CreationInProgress waits on the same work (same command, no new attempt)", () => {
    const { record, setId } = recordIn("CreationInProgress");
    const r = op.commitBegin(record, { shadowCopySetId: setId }, env);
    expect(r.hresult).toBe(ZERO);
    expect(r.effects).toEqual([{ kind: "command", setId }]);
    expect(op.findSet(r.record, setId)!.pending).toEqual(op.findSet(record, setId)!.pending);
  });

  test("Abort of an Exposed set removes it and removes its storage", () => {
    const { record, setId, shadowCopyId } = recordIn("Exposed");
    const r = op.abortShadowCopySet(record, { shadowCopySetId: setId }, env);
    expect(op.findSet(r.record, setId)).toBeUndefined();
    expect(r.record.contextSet).toBe(false);
    expect(r.record.removals.map((d) => [d.setId, d.shadowCopies.map((c) => c.id)])).toEqual([[setId, [shadowCopyId]]]);
    expect(r.effects.map((e) => e.kind)).toEqual(["aborted", "removal"]);
  });

  test("Abort of a Started set leaves nothing to remove", () => {
    const { record, setId } = recordIn("Started");
    const r = op.abortShadowCopySet(record, { shadowCopySetId: setId }, env);
    expect(r.record.removals).toEqual([]);
    expect(r.effects.map((e) => e.kind)).toEqual(["aborted", "finished"]);
  });

  test("DeleteShareMapping of the last mapping removes the set; storage is removed once confirmed", () => {
    const { record, setId, shadowCopyId } = recordIn("Recovered");
    const r = op.deleteShareMapping(record, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1 }, env);
    expect(r.hresult).toBe(ZERO);
    expect(op.findSet(r.record, setId)).toBeUndefined();
    const drained = op.removalConfirmed(r.record, { setId, shadowCopyIds: [shadowCopyId], snapshots: [] });
    expect(drained.record.removals).toEqual([]);
    expect(drained.effects.map((e) => e.kind)).toEqual(["finished"]);
  });

  test("GetShareMapping answers UNC names and the time the share was added", () => {
    const e = testEnv(5_000);
    const { record, setId, shadowCopyId } = recordIn("Exposed", e);
    const r = op.getShareMapping(record, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1, level: 1 }, e);
    expect(r.value).toEqual({
      shadowCopySetId: setId,
      shadowCopyId,
      shareNameUnc: "\\\\vs1\\share1",
      shadowCopyShareName: `\\\\vs1\\share1@{${shadowCopyId}}`,
      creationTimestamp: 5_000,
    });
    expect(r.record.timer!.deadline - e.now).toBe(1_800_000);
    expect(
      op.getShareMapping(record, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1, level: 2 }, e).hresult,
    ).toBe(HRESULT.E_INVALIDARG);
  });
});

describe("FSRVP SetContext", () => {
  test.each([
    [0x0, ZERO],
    [0x10, ZERO],
    [0x19, ZERO],
    [0x09, ZERO],
    [0x400000, ZERO],
    [0x2, ZERO],
    [0x1, HRESULT.FSRVP_E_UNSUPPORTED_CONTEXT],
    [0x400002, HRESULT.FSRVP_E_UNSUPPORTED_CONTEXT],
  ])("context %d answers %d", (context, expected) => {
    expect(op.setContext(recordIn("NoContext").record, { context, client: CLIENT }, env).hresult).toBe(expected);
  });

  test("another client while the context is set gets IN_PROGRESS", () => {
    expect(op.setContext(recordIn("ContextSet").record, { context: 0, client: "10.0.0.9" }, env).hresult).toBe(
      IN_PROGRESS,
    );
  });

  test("the owner may start over five times; the sixth in a row is refused", () => {
    let s = recordIn("Added").record;
    const results: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = op.setContext(s, { context: 0, client: CLIENT }, env);
      results.push(r.hresult);
      s = r.record;
    }
    expect(results).toEqual([ZERO, ZERO, ZERO, ZERO, ZERO, IN_PROGRESS]);
    expect(s.sets).toEqual([]);
  });
});

describe("FSRVP message sequence timer", () => {
  test.each([
    ["ContextSet", 180_000],
    ["Started", 180_000],
    ["Added", 1_800_000],
    ["CreationInProgress", null],
    ["Committed", 180_000],
    ["Exposed", 180_000],
    ["Recovered", null],
  ] as const)("after reaching %s the timer is %s ms", (state, ms) => {
    const e = testEnv();
    const { record } = recordIn(state, e);
    expect(record.timer ? record.timer.deadline - e.now : null).toBe(ms);
  });

  test("expiry removes every set not Recovered (Exposed too) and removes its storage", () => {
    const { record, setId } = recordIn("Exposed");
    const r = op.sequenceTimerExpired(record, { ...record.timer! }, env);
    expect(r.record.sets).toEqual([]);
    expect(r.record.contextSet).toBe(false);
    expect(r.record.removals.map((d) => d.setId)).toEqual([setId]);
    expect(r.effects[0]).toEqual(expect.objectContaining({ kind: "aborted", code: "TIMEOUT" }));
  });

  test("a stale timer (other generation or deadline) changes nothing", () => {
    const { record } = recordIn("Started");
    const t = record.timer!;
    expect(op.sequenceTimerExpired(record, { generation: t.generation - 1, deadline: t.deadline }, env).record).toBe(
      record,
    );
    expect(op.sequenceTimerExpired(record, { generation: t.generation, deadline: t.deadline - 1 }, env).record).toBe(
      record,
    );
  });

  test("0 disables the timer", () => {
    const e = { ...testEnv(), timers: { shortMs: 0, longMs: 0 } };
    expect(recordIn("Added", e).record.timer).toBeNull();
  });
});

describe("FSRVP path queries", () => {
  test("IsPathSupported names the SVM as owner", () => {
    const r = op.isPathSupported(recordIn("NoContext").record, { shareNameUnc: UNC1, lookup: found("share1") });
    expect(r.value).toEqual({ supported: true, ownerMachineName: SVM });
  });

  test.each([
    ["Added", false],
    ["Committed", true],
    ["Exposed", true],
    ["Recovered", true],
  ] as const)("IsPathShadowCopied in %s is %s", (state, present) => {
    const r = op.isPathShadowCopied(recordIn(state).record, { shareNameUnc: UNC1, lookup: found("share1") });
    expect(r.value?.shadowCopyPresent).toBe(present);
  });
});

describe("timer messages", () => {
  test("a new message only when none already queued comes at or before the timer's deadline", () => {
    const e = testEnv();
    const { record } = recordIn("Started", e);
    const first = op.scheduleTimerMessage(record);
    expect(first.publish).toEqual(record.timer);
    expect(first.record.timerWakeAt).toBe(record.timer!.deadline);
    const later = op.prepareShadowCopySet(
      op.addToShadowCopySet(
        first.record,
        {
          shadowCopySetId: op.findSet(first.record, first.record.sets[0]!.id)!.id,
          shareNameUnc: "\\\\vs1\\share1",
          lookup: { kind: "found", share: "share1", volume: "v", sharePath: "" },
        },
        e,
      ).record,
      { shadowCopySetId: first.record.sets[0]!.id },
      e,
    );
    expect(op.scheduleTimerMessage(later.record).publish).toBeNull();
  });

  test.each([
    ["early (before its own deadline): it waits for it", "Started", 0, 180_000, false, 180_000],
    ["no timer: the message is done", "Recovered", 0, undefined, false, 0],
    ["a later deadline: the message waits again", "Started", 1_000, 179_000, false, 0],
    ["the deadline passed: the timer expires", "Started", 181_000, undefined, true, 0],
  ] as const)("%s", (_what, state, advance, wait, expires, messageDelay) => {
    const e = testEnv();
    const { record } = recordIn(state, e);
    const messageDeadline = e.now + messageDelay;
    e.tick(advance);
    const out = op.timerMessageDue(op.scheduleTimerMessage(record).record, { messageDeadline }, e);
    expect(out.value?.waitMs).toBe(wait);
    expect(out.effects.some((x) => x.kind === "aborted")).toBe(expires);
    if (!wait) expect(out.record.timerWakeAt).toBeUndefined();
  });
});
