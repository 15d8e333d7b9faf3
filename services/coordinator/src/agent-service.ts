/**
 * gRPC ShadowCopyAgent: MS-FSRVP for requestors that drive Remote VSS themselves. Each call applies
 * one pure FSRVP operation (@rvss/core) to the SVM's record, persists it before answering, and for
 * Commit, Expose, RecoveryComplete and DeleteShareMapping waits for the snapshot-executor, bounded by
 * TimeOutInMilliseconds where the spec has one.
 */
import {
  FsrvpError,
  HRESULT,
  abortShadowCopySet,
  addToShadowCopySet,
  applyReport,
  commitBegin,
  deleteShareMapping,
  emptySvmRecord,
  exposeBegin,
  findSet,
  getShareMapping,
  getSupportedVersion,
  isGuid,
  isPathShadowCopied,
  isPathSupported,
  normaliseGuid,
  parseUnc,
  prepareShadowCopySet,
  recoveryCompleteBegin,
  refuseCaller,
  remainingStorage,
  setContext,
  setEventSubject,
  startShadowCopySet,
  toFileTime,
  waitTimedOut,
  type Change,
  type Env,
  type Outcome,
  type ShadowCopySetStatus,
  type ShareLookup,
  type ShareMappingInfo,
  type StepReport,
  type SvmRecord,
} from "@rvss/core";
import type { Metadata } from "@grpc/grpc-js";
import { checkShares, decodeEvent, type Bus } from "@rvss/bus";
import type { ShadowCopyAgentServer } from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import type { Engine } from "./engine";
import { fsrvpUnary, remaining } from "./grpc";
import { callerOf, principalOf } from "./grpc-auth";
import { toReport } from "./reports";

/** How long a call waits for storage when neither the spec nor the caller bounds it. */
const DEFAULT_WAIT_MS = 60_000;

export interface AgentDeps {
  bus: Bus;
  engine: Engine;
  log: Logger;
}

/** The wait a call may spend: its TimeOutInMilliseconds (0: the default), capped by its deadline. */
function waitBudget(call: { getDeadline(): Date | number }, timeoutMs?: number): number {
  return Math.min(timeoutMs && timeoutMs > 0 ? timeoutMs : DEFAULT_WAIT_MS, remaining(call));
}

/** The report a message of a set's events carries; none when it is not on its body's subject (bus `decodeEvent`). */
function reportOn(m: { subject: string; data: Uint8Array }): StepReport | null {
  try {
    return toReport(decodeEvent(m.subject, m.data));
  } catch {
    return null;
  }
}

function check(hresult: number, message?: string): void {
  if (hresult !== HRESULT.ZERO) throw FsrvpError.of(hresult, message);
}

/** What E_ACCESSDENIED from `refuseCaller` says: whose the set or the context is not. */
function refusal(hresult: number, setId?: string): string | undefined {
  if (hresult !== HRESULT.E_ACCESSDENIED) return undefined;
  return setId === undefined
    ? "another FSRVP client holds the context; only it (or an admin) may start a set"
    : `shadow copy set ${setId} is another FSRVP client's; only it (or an admin) may act on it`;
}

export function shadowCopyAgent({ bus, engine, log }: AgentDeps): ShadowCopyAgentServer {
  /** Where a share lives, as FSRVP needs to know: found, missing, or not supported (with the reason). */
  async function lookup(svm: string, unc: string): Promise<ShareLookup> {
    const parsed = parseUnc(unc);
    if (!parsed) return { kind: "notFound", reason: `"${unc}" is not a UNC share name` };
    const res = await checkShares(bus, { svm, shares: [{ svm, share: parsed.share, files: [], vms: [] }] });
    if (res.svmFound && !res.svmNames.some((n) => n.toLowerCase() === parsed.host.toLowerCase()))
      return {
        kind: "notFound",
        reason: `"${unc}" names host "${parsed.host}", which is not SVM "${svm}" (it answers to ${res.svmNames.join(", ")})`,
      };
    const c = res.checks[0];
    if (!c || !c.found)
      return {
        kind: "notFound",
        reason: c?.violations[0]?.message ?? `share "${parsed.share}" does not exist on SVM "${svm}"`,
      };
    if (c.violations.length > 0) return { kind: "notSupported", reason: c.violations.map((v) => v.message).join("; ") };
    return { kind: "found", share: c.resolved!.share, volume: c.resolved!.volume, sharePath: c.resolved!.sharePath };
  }

  /**
   * SetContext, the call that first writes an SVM's record, asks whether the storage knows the SVM,
   * so a typo (or a probe) leaves nothing behind; without a context no other call writes. MS-FSRVP
   * has no "no such server" code for SetContext; E_INVALIDARG is its answer to a parameter it cannot
   * use (OBJECT_NOT_FOUND is for shares, which the share calls answer).
   */
  async function knownSvm(svm: string): Promise<void> {
    const res = await checkShares(bus, { svm, shares: [] });
    if (!res.svmFound) throw FsrvpError.of(HRESULT.E_INVALIDARG, `no SVM "${svm}" is known to the storage`);
  }

  function reasonOf(l: ShareLookup): string | undefined {
    return l.kind === "found" ? undefined : l.reason;
  }

  /** IDs on the wire are GUIDs; anything else is E_INVALIDARG. */
  function guid(id: string, what: string): string {
    if (!isGuid(id)) throw FsrvpError.of(HRESULT.E_INVALIDARG, `${what} "${id}" is not a GUID`);
    return normaliseGuid(id);
  }

  /**
   * Commit, Expose, RecoveryComplete: begin the step (persisted), then wait for the snapshot-executor.
   * The call listens to the set's events itself (subscribed before the command goes out) and applies
   * the step's report together with the completion of the operation in one write, instead of waiting
   * for the coordinator's events worker to write it first; the worker then finds it applied. The set
   * moves on only when a call completes the operation, as the spec says. A wait that runs out re-arms
   * the 180 s timer and answers the step's timeout; the work goes on, and the retry that finds it
   * done completes the operation at once.
   */
  async function storageStep(
    req: { svm: string; shadowCopySetId: string; timeoutInMilliseconds?: number },
    call: { metadata: Metadata; getDeadline(): Date | number },
    o: {
      begin: (s: SvmRecord, req: { shadowCopySetId: string }, env: Env) => Outcome;
      reached: ShadowCopySetStatus;
      doing: string;
      failing: string;
      timeout: { hresult: number; retry: string };
    },
  ): Promise<Record<string, never>> {
    const svm = req.svm;
    const setId = guid(req.shadowCopySetId, "ShadowCopySetId");
    const caller = callerOf(call);
    const events = bus.nc.subscribe(setEventSubject(svm, setId, "*"));
    const timer = setTimeout(() => events.unsubscribe(), waitBudget(call, req.timeoutInMilliseconds));
    try {
      const begun = await engine.apply(
        svm,
        (s, env) => refuseCaller(s, caller, setId) ?? o.begin(s, { shadowCopySetId: setId }, env),
      );
      check(begun.hresult ?? 0, refusal(begun.hresult ?? 0, setId));
      let state = stateOf(begun.record);
      if (state === "waiting")
        for await (const m of events) {
          const report = reportOn(m);
          if (!report) continue;
          const out = await engine.apply(svm, (s, env) => completeOnReport(s, report, env));
          state = stateOf(out.record);
          if (state !== "waiting") break;
        }
      if (state === "waiting") {
        await engine.apply(svm, (s, env) => waitTimedOut(s, { shadowCopySetId: setId }, env));
        throw FsrvpError.of(
          o.timeout.hresult,
          `the shadow copies were not ${o.doing} in time; the work goes on (${o.timeout.retry})`,
        );
      }
      if (state === "gone")
        throw FsrvpError.of(
          HRESULT.FSRVP_E_WAIT_FAILED,
          `the set was removed while its shadow copies were being ${o.doing}`,
        );
      if (state !== "done")
        throw FsrvpError.of(HRESULT.E_FAIL, `${o.failing} the shadow copies failed: ${state.failed}`);
      return {};
    } finally {
      clearTimeout(timer);
      events.unsubscribe();
    }

    function stateOf(s: SvmRecord): "waiting" | "done" | "gone" | { failed: string } {
      const set = findSet(s, setId);
      if (!set) return "gone";
      if (set.status === o.reached) return "done";
      if (!set.pending && set.failure) return { failed: set.failure.reason };
      return "waiting";
    }

    /** Applies a report of the set; once its step is done, the operation completes in the same write. */
    function completeOnReport(s: SvmRecord, report: StepReport, env: Env): Change {
      const reported = applyReport(s, report, env);
      if (!findSet(reported.record, setId)?.pending?.done) return reported;
      const completed = o.begin(reported.record, { shadowCopySetId: setId }, env);
      return { record: completed.record, effects: [...reported.effects, ...completed.effects] };
    }
  }

  return {
    getSupportedVersion: fsrvpUnary(log, "GetSupportedVersion", async () => getSupportedVersion()),

    setContext: fsrvpUnary(log, "SetContext", async (req, call) => {
      await knownSvm(req.svm);
      const out = await engine.apply(req.svm, (s, env) =>
        setContext(s, { context: req.context, client: principalOf(call) }, env),
      );
      check(out.hresult ?? 0);
      return {};
    }),

    startShadowCopySet: fsrvpUnary(log, "StartShadowCopySet", async (req, call) => {
      const caller = callerOf(call);
      const out = await engine.apply(
        req.svm,
        (s, env) =>
          refuseCaller<{ shadowCopySetId: string }>(s, caller) ??
          startShadowCopySet(s, { clientShadowCopySetId: req.clientShadowCopySetId, client: caller.principal }, env),
      );
      check(out.hresult ?? 0, refusal(out.hresult ?? 0));
      return { shadowCopySetId: out.value!.shadowCopySetId };
    }),

    addToShadowCopySet: fsrvpUnary(log, "AddToShadowCopySet", async (req, call) => {
      const setId = guid(req.shadowCopySetId, "ShadowCopySetId");
      const caller = callerOf(call);
      const l = await lookup(req.svm, req.shareName);
      const out = await engine.apply(
        req.svm,
        (s, env) =>
          refuseCaller<{ shadowCopyId: string }>(s, caller, setId) ??
          addToShadowCopySet(s, { shadowCopySetId: setId, shareNameUnc: req.shareName, lookup: l }, env),
      );
      check(out.hresult ?? 0, refusal(out.hresult ?? 0, setId) ?? reasonOf(l));
      return { shadowCopyId: out.value!.shadowCopyId };
    }),

    prepareShadowCopySet: fsrvpUnary(log, "PrepareShadowCopySet", async (req, call) => {
      const setId = guid(req.shadowCopySetId, "ShadowCopySetId");
      const caller = callerOf(call);
      const out = await engine.apply(
        req.svm,
        (s, env) => refuseCaller(s, caller, setId) ?? prepareShadowCopySet(s, { shadowCopySetId: setId }, env),
      );
      check(out.hresult, refusal(out.hresult, setId));
      return {};
    }),

    commitShadowCopySet: fsrvpUnary(log, "CommitShadowCopySet", (req, call) =>
      storageStep(req, call, {
        begin: commitBegin,
        reached: "Committed",
        doing: "made",
        failing: "making",
        timeout: { hresult: HRESULT.FSSAGENT_E_TIMEOUT, retry: "retry Commit to wait, or Abort" },
      }),
    ),

    exposeShadowCopySet: fsrvpUnary(log, "ExposeShadowCopySet", (req, call) =>
      storageStep(req, call, {
        begin: exposeBegin,
        reached: "Exposed",
        doing: "exposed",
        failing: "exposing",
        timeout: { hresult: HRESULT.FSRVP_E_WAIT_TIMEOUT, retry: "retry Expose to wait, or Abort" },
      }),
    ),

    recoveryCompleteShadowCopySet: fsrvpUnary(log, "RecoveryCompleteShadowCopySet", (req, call) =>
      storageStep(req, call, {
        begin: recoveryCompleteBegin,
        reached: "Recovered",
        doing: "sealed",
        failing: "sealing",
        timeout: { hresult: HRESULT.FSRVP_E_WAIT_TIMEOUT, retry: "retry to wait" },
      }),
    ),

    abortShadowCopySet: fsrvpUnary(log, "AbortShadowCopySet", async (req, call) => {
      const caller = callerOf(call);
      const out = await engine.apply(
        req.svm,
        (s, env) =>
          refuseCaller(s, caller, req.shadowCopySetId) ??
          abortShadowCopySet(s, { shadowCopySetId: req.shadowCopySetId }, env),
      );
      check(out.hresult ?? 0, refusal(out.hresult ?? 0, req.shadowCopySetId));
      return {};
    }),

    isPathSupported: fsrvpUnary(log, "IsPathSupported", async (req) => {
      const l = await lookup(req.svm, req.shareName);
      const out = isPathSupported((await engine.read(req.svm)) ?? emptySvmRecord(req.svm), {
        shareNameUnc: req.shareName,
        lookup: l,
      });
      check(out.hresult, reasonOf(l));
      return { supportedByThisProvider: out.value!.supported, ownerMachineName: out.value!.ownerMachineName };
    }),

    isPathShadowCopied: fsrvpUnary(log, "IsPathShadowCopied", async (req) => {
      const l = await lookup(req.svm, req.shareName);
      const out = isPathShadowCopied((await engine.read(req.svm)) ?? emptySvmRecord(req.svm), {
        shareNameUnc: req.shareName,
        lookup: l,
      });
      check(out.hresult, reasonOf(l));
      return {
        shadowCopyPresent: out.value!.shadowCopyPresent,
        shadowCopyCompatibility: out.value!.shadowCopyCompatibility,
      };
    }),

    getShareMapping: fsrvpUnary(log, "GetShareMapping", async (req, call) => {
      const caller = callerOf(call);
      const out = await engine.apply(
        req.svm,
        (s, env) =>
          refuseCaller<ShareMappingInfo>(s, caller, req.shadowCopySetId) ??
          getShareMapping(
            s,
            {
              shadowCopyId: req.shadowCopyId,
              shadowCopySetId: req.shadowCopySetId,
              shareNameUnc: req.shareName,
              level: req.level,
            },
            env,
          ),
      );
      check(out.hresult ?? 0, refusal(out.hresult ?? 0, req.shadowCopySetId));
      const m = out.value!;
      return {
        shareMapping: {
          shadowCopySetId: m.shadowCopySetId,
          shadowCopyId: m.shadowCopyId,
          shareNameUnc: m.shareNameUnc,
          shadowCopyShareName: m.shadowCopyShareName,
          creationTimestamp: toFileTime(m.creationTimestamp),
        },
      };
    }),

    deleteShareMapping: fsrvpUnary(log, "DeleteShareMapping", async (req, call) => {
      // The mapping is gone from FSRVP's table (persisted); answer once storage confirms, or when
      // the wait runs out (the removal is durable and goes on). As storageStep does, the call
      // applies the removal's report itself when it comes.
      // IDs are checked before one names a subject (core answers E_INVALIDARG for them too).
      const setId = guid(req.shadowCopySetId, "ShadowCopySetId");
      const copyId = guid(req.shadowCopyId, "ShadowCopyId");
      const removed = (s: SvmRecord): boolean => {
        const d = s.removals.find((x) => x.setId === setId);
        return !d || !remainingStorage(d).shadowCopies.some((c) => c.id === copyId);
      };
      const caller = callerOf(call);
      const events = bus.nc.subscribe(setEventSubject(req.svm, setId, "shadowCopiesDeleted"));
      const timer = setTimeout(() => events.unsubscribe(), waitBudget(call));
      try {
        const out = await engine.apply(
          req.svm,
          (s, env) =>
            refuseCaller(s, caller, setId) ??
            deleteShareMapping(
              s,
              { shadowCopySetId: req.shadowCopySetId, shadowCopyId: req.shadowCopyId, shareNameUnc: req.shareName },
              env,
            ),
        );
        check(out.hresult ?? 0, refusal(out.hresult ?? 0, setId));
        if (removed(out.record)) return {};
        for await (const m of events) {
          const report = reportOn(m);
          if (report && removed((await engine.apply(req.svm, (s, env) => applyReport(s, report, env))).record)) break;
        }
        return {};
      } finally {
        clearTimeout(timer);
        events.unsubscribe();
      }
    }),
  };
}
