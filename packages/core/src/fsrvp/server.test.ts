import { HRESULT, describeHResult } from "./hresult";
import * as op from "./server";
import { CLIENT, STATES, SVM, UNC1, UNC2, found, serverIn, testEnv, type StateName } from "./testing";

const { ZERO, FSRVP_E_BAD_STATE: BAD, FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS: IN_PROGRESS } = HRESULT;

type Call = (s: ReturnType<typeof serverIn>) => { hresult: number };

const env = testEnv();
const calls: Record<string, Call> = {
  StartShadowCopySet: ({ server }) =>
    op.startShadowCopySet(
      server,
      { clientShadowCopySetId: "22222222-2222-4222-8222-222222222222", client: CLIENT },
      env,
    ),
  AddToShadowCopySet: ({ server, setId }) =>
    op.addToShadowCopySet(server, { shadowCopySetId: setId, shareNameUnc: UNC2, lookup: found("share2") }, env),
  PrepareShadowCopySet: ({ server, setId }) => op.prepareShadowCopySet(server, { shadowCopySetId: setId }, env),
  CommitShadowCopySet: ({ server, setId }) => op.commitBegin(server, { shadowCopySetId: setId }, env),
  ExposeShadowCopySet: ({ server, setId }) => op.exposeBegin(server, { shadowCopySetId: setId }, env),
  RecoveryCompleteShadowCopySet: ({ server, setId }) =>
    op.recoveryCompleteBegin(server, { shadowCopySetId: setId }, env),
  AbortShadowCopySet: ({ server, setId }) => op.abortShadowCopySet(server, { shadowCopySetId: setId }, env),
  GetShareMapping: ({ server, setId, shadowCopyId }) =>
    op.getShareMapping(server, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1, level: 1 }, env),
  DeleteShareMapping: ({ server, setId, shadowCopyId }) =>
    op.deleteShareMapping(server, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1 }, env),
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
    const r = calls[name]!(serverIn(state as StateName));
    expect(describeHResult(r.hresult)).toBe(expected);
  });

  test.each(Object.keys(calls).filter((n) => n !== "StartShadowCopySet"))("%s on an unknown set", (name) => {
    const s = serverIn("Exposed");
    const r = calls[name]!({ ...s, setId: "99999999-9999-4999-8999-999999999999" });
    const expected =
      name === "DeleteShareMapping" ? HRESULT.FSRVP_E_OBJECT_NOT_FOUND : HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH;
    expect(describeHResult(r.hresult)).toBe(describeHResult(expected));
  });
});

describe("FSRVP transitions", () => {
  test("Start without a context is BAD_STATE", () => {
    expect(calls.StartShadowCopySet!(serverIn("NoContext")).hresult).toBe(BAD);
  });

  test("a set goes Started -> Added -> CreationInProgress -> Committed -> Exposed -> Recovered", () => {
    const seen = (["Started", "Added", "CreationInProgress", "Committed", "Exposed", "Recovered"] as StateName[]).map(
      (st) => {
        const { server, setId } = serverIn(st);
        return op.findSet(server, setId)!.status;
      },
    );
    expect(seen).toEqual(["Started", "Added", "CreationInProgress", "Committed", "Exposed", "Recovered"]);
  });

  test("RecoveryComplete releases the context and stops the timer", () => {
    const { server } = serverIn("Recovered");
    expect(server.contextSet).toBe(false);
    expect(server.clientAddress).toBeNull();
    expect(server.timer).toBeNull();
  });

  test("the same share twice is OBJECT_ALREADY_EXISTS and re-arms 180 s", () => {
    const e = testEnv();
    const { server, setId } = serverIn("Added", e);
    const r = op.addToShadowCopySet(
      server,
      { shadowCopySetId: setId, shareNameUnc: "\\\\vs1\\SHARE1\\", lookup: found("share1") },
      e,
    );
    expect(r.hresult).toBe(HRESULT.FSRVP_E_OBJECT_ALREADY_EXISTS);
    expect(r.server.timer!.deadline - e.now).toBe(180_000);
  });

  test.each([
    [{ kind: "notFound" as const, reason: "no such share" }, HRESULT.FSRVP_E_OBJECT_NOT_FOUND],
    [{ kind: "notSupported" as const, reason: "junction below" }, HRESULT.FSRVP_E_NOT_SUPPORTED],
  ])("Add with lookup %j answers %s", (lookup, expected) => {
    const { server, setId } = serverIn("Started");
    expect(op.addToShadowCopySet(server, { shadowCopySetId: setId, shareNameUnc: UNC2, lookup }, env).hresult).toBe(
      expected,
    );
  });

  test("Commit failure goes back to Added with the failure recorded", () => {
    const e = testEnv();
    const { server, setId } = serverIn("CreationInProgress", e);
    const r = op.commitFailed(
      server,
      { shadowCopySetId: setId, failure: { step: "create", reason: "disk full", code: "STORAGE_FAILED", at: 1 } },
      e,
    );
    const set = op.findSet(r.server, setId)!;
    expect(set.status).toBe("Added");
    expect(set.failure?.reason).toBe("disk full");
    expect(r.server.timer!.deadline - e.now).toBe(180_000);
  });

  test("Commit retried while CreationInProgress waits on the same work (same command, no new attempt)", () => {
    const { server, setId } = serverIn("CreationInProgress");
    const r = op.commitBegin(server, { shadowCopySetId: setId }, env);
    expect(r.hresult).toBe(ZERO);
    expect(r.effects).toEqual([{ kind: "command", setId }]);
    expect(op.findSet(r.server, setId)!.pending).toEqual(op.findSet(server, setId)!.pending);
  });

  test("Abort of an Exposed set removes it and drains its storage", () => {
    const { server, setId, shadowCopyId } = serverIn("Exposed");
    const r = op.abortShadowCopySet(server, { shadowCopySetId: setId }, env);
    expect(op.findSet(r.server, setId)).toBeUndefined();
    expect(r.server.contextSet).toBe(false);
    expect(r.server.draining.map((d) => [d.setId, d.shadowCopies.map((c) => c.id)])).toEqual([[setId, [shadowCopyId]]]);
    expect(r.effects.map((e) => e.kind)).toEqual(["aborted", "drain"]);
  });

  test("Abort of a Started set leaves nothing to drain", () => {
    const { server, setId } = serverIn("Started");
    const r = op.abortShadowCopySet(server, { shadowCopySetId: setId }, env);
    expect(r.server.draining).toEqual([]);
    expect(r.effects.map((e) => e.kind)).toEqual(["aborted", "finished"]);
  });

  test("DeleteShareMapping of the last mapping removes the set; storage drains until confirmed", () => {
    const { server, setId, shadowCopyId } = serverIn("Recovered");
    const r = op.deleteShareMapping(server, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1 }, env);
    expect(r.hresult).toBe(ZERO);
    expect(op.findSet(r.server, setId)).toBeUndefined();
    const drained = op.storageDrained(r.server, { setId, shadowCopyIds: [shadowCopyId], snapshots: [] });
    expect(drained.server.draining).toEqual([]);
    expect(drained.effects.map((e) => e.kind)).toEqual(["finished"]);
  });

  test("GetShareMapping answers UNC names and the time the share was added", () => {
    const e = testEnv(5_000);
    const { server, setId, shadowCopyId } = serverIn("Exposed", e);
    const r = op.getShareMapping(server, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1, level: 1 }, e);
    expect(r.value).toEqual({
      shadowCopySetId: setId,
      shadowCopyId,
      shareNameUnc: "\\\\vs1\\share1",
      shadowCopyShareName: `\\\\vs1\\share1@{${shadowCopyId}}`,
      creationTimestamp: 5_000,
    });
    expect(r.server.timer!.deadline - e.now).toBe(1_800_000);
    expect(
      op.getShareMapping(server, { shadowCopySetId: setId, shadowCopyId, shareNameUnc: UNC1, level: 2 }, e).hresult,
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
    expect(op.setContext(serverIn("NoContext").server, { context, client: CLIENT }, env).hresult).toBe(expected);
  });

  test("another client while the context is set gets IN_PROGRESS", () => {
    expect(op.setContext(serverIn("ContextSet").server, { context: 0, client: "10.0.0.9" }, env).hresult).toBe(
      IN_PROGRESS,
    );
  });

  test("the owner may start over five times; the sixth in a row is refused", () => {
    let s = serverIn("Added").server;
    const results: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = op.setContext(s, { context: 0, client: CLIENT }, env);
      results.push(r.hresult);
      s = r.server;
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
    const { server } = serverIn(state, e);
    expect(server.timer ? server.timer.deadline - e.now : null).toBe(ms);
  });

  test("expiry removes every set not Recovered (Exposed too) and drains its storage", () => {
    const { server, setId } = serverIn("Exposed");
    const r = op.sequenceTimerExpired(server, { ...server.timer! }, env);
    expect(r.server.sets).toEqual([]);
    expect(r.server.contextSet).toBe(false);
    expect(r.server.draining.map((d) => d.setId)).toEqual([setId]);
    expect(r.effects[0]).toEqual(expect.objectContaining({ kind: "aborted", code: "TIMEOUT" }));
  });

  test("a stale timer (other generation or deadline) changes nothing", () => {
    const { server } = serverIn("Started");
    const t = server.timer!;
    expect(op.sequenceTimerExpired(server, { generation: t.generation - 1, deadline: t.deadline }, env).server).toBe(
      server,
    );
    expect(op.sequenceTimerExpired(server, { generation: t.generation, deadline: t.deadline - 1 }, env).server).toBe(
      server,
    );
  });

  test("0 disables the timer", () => {
    const e = { ...testEnv(), timers: { shortMs: 0, longMs: 0 } };
    expect(serverIn("Added", e).server.timer).toBeNull();
  });
});

describe("FSRVP path queries", () => {
  test("IsPathSupported names the SVM as owner", () => {
    const r = op.isPathSupported(serverIn("NoContext").server, { shareNameUnc: UNC1, lookup: found("share1") });
    expect(r.value).toEqual({ supported: true, ownerMachineName: SVM });
  });

  test.each([
    ["Added", false],
    ["Committed", true],
    ["Exposed", true],
    ["Recovered", true],
  ] as const)("IsPathShadowCopied in %s is %s", (state, present) => {
    const r = op.isPathShadowCopied(serverIn(state).server, { shareNameUnc: UNC1, lookup: found("share1") });
    expect(r.value?.shadowCopyPresent).toBe(present);
  });
});

describe("timer messages", () => {
  test("a new message only when none already queued comes at or before the timer's deadline", () => {
    const e = testEnv();
    const { server } = serverIn("Started", e);
    const first = op.scheduleTimerMessage(server);
    expect(first.publish).toEqual(server.timer);
    expect(first.server.timerWakeAt).toBe(server.timer!.deadline);
    const later = op.prepareShadowCopySet(
      op.addToShadowCopySet(
        first.server,
        {
          shadowCopySetId: op.findSet(first.server, first.server.sets[0]!.id)!.id,
          shareNameUnc: "\\\\vs1\\share1",
          lookup: { kind: "found", share: "share1", volume: "v", sharePath: "" },
        },
        e,
      ).server,
      { shadowCopySetId: first.server.sets[0]!.id },
      e,
    );
    expect(op.scheduleTimerMessage(later.server).publish).toBeNull();
  });

  test.each([
    ["early (before its own deadline): it waits for it", "Started", 0, 180_000, false, 180_000],
    ["no timer: the message is done", "Recovered", 0, undefined, false, 0],
    ["a later deadline: the message waits again", "Started", 1_000, 179_000, false, 0],
    ["the deadline passed: the timer expires", "Started", 181_000, undefined, true, 0],
  ] as const)("%s", (_what, state, advance, wait, expires, messageDelay) => {
    const e = testEnv();
    const { server } = serverIn(state, e);
    const messageDeadline = e.now + messageDelay;
    e.tick(advance);
    const out = op.timerMessageDue(op.scheduleTimerMessage(server).server, { messageDeadline }, e);
    expect(out.value?.waitMs).toBe(wait);
    expect(out.effects.some((x) => x.kind === "aborted")).toBe(expires);
    if (!wait) expect(out.server.timerWakeAt).toBeUndefined();
  });
});
