/**
 * gRPC ShadowCopyAgent: MS-FSRVP for requestors that drive Remote VSS themselves. Each call applies
 * one pure FSRVP operation (@rvss/core) to the SVM's record, persists it before answering, and for
 * Commit, Expose, RecoveryComplete and DeleteShareMapping waits for the snapshot-executor, bounded by
 * TimeOutInMilliseconds where the spec has one.
 */
import type { ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import {
  HRESULT,
  abortShadowCopySet,
  addToShadowCopySet,
  commitBegin,
  deleteShareMapping,
  emptySvmRecord,
  errorMessage,
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
  remainingStorage,
  setContext,
  startShadowCopySet,
  toFileTime,
  waitTimedOut,
  type Env,
  type Outcome,
  type ShadowCopySetStatus,
  type ShareLookup,
  type SvmRecord,
} from "@rvss/core";
import { checkShares, type Bus } from "@rvss/bus";
import type { ShadowCopyAgentServer } from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import type { Engine } from "./engine";
import { FsrvpFailure, fsrvpServiceError } from "./fsrvp-status";
import { toServiceError } from "./grpc-errors";

/** How long a call waits for storage when neither the spec nor the caller bounds it. */
const DEFAULT_WAIT_MS = 60_000;

export interface AgentDeps {
  bus: Bus;
  engine: Engine;
  log: Logger;
}

/** The caller's identity for context ownership: its IP address, until authentication exists. */
export function clientOf(call: { getPeer(): string }): string {
  const peer = call.getPeer().replace(/^ipv[46]:/, "");
  const m = /^\[(.*)\]:\d+$/.exec(peer) ?? /^(.*):\d+$/.exec(peer);
  return m ? m[1]! : peer;
}

function deadlineLeft(call: { getDeadline(): Date | number }): number {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(at) && at > 0 ? Math.max(1, at - Date.now()) : Number.POSITIVE_INFINITY;
}

/** The wait a call may spend: its TimeOutInMilliseconds (0: the default), capped by its deadline. */
function waitBudget(call: { getDeadline(): Date | number }, timeoutMs?: number): number {
  return Math.min(timeoutMs && timeoutMs > 0 ? timeoutMs : DEFAULT_WAIT_MS, deadlineLeft(call));
}

function check(hresult: number, message?: string): void {
  if (hresult !== HRESULT.ZERO) throw new FsrvpFailure(hresult, message ?? "");
}

export function shadowCopyAgent({ bus, engine, log }: AgentDeps): ShadowCopyAgentServer {
  /** Where a share lives, as FSRVP needs to know: found, missing, or not supported (with the reason). */
  async function lookup(svm: string, unc: string): Promise<ShareLookup> {
    const parsed = parseUnc(unc);
    if (!parsed) return { kind: "notFound", reason: `"${unc}" is not a UNC share name` };
    const res = await checkShares(bus, { svm, shares: [{ svm, share: parsed.share, files: [], vms: [] }] });
    const c = res.checks[0];
    if (!c || !c.found)
      return {
        kind: "notFound",
        reason: c?.violations[0]?.message ?? `share "${parsed.share}" does not exist on SVM "${svm}"`,
      };
    if (c.violations.length > 0) return { kind: "notSupported", reason: c.violations.map((v) => v.message).join("; ") };
    return { kind: "found", share: c.resolved!.share, volume: c.resolved!.volume, sharePath: c.resolved!.sharePath };
  }

  function reasonOf(l: ShareLookup): string | undefined {
    return l.kind === "found" ? undefined : l.reason;
  }

  /** Runs one call: validation and FSRVP failures become statuses carrying the HRESULT. */
  function rpc<Req extends { svm: string }, Res>(
    name: string,
    fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
  ) {
    return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
      const req = call.request;
      const setId = (req as { shadowCopySetId?: string }).shadowCopySetId;
      const start = async (): Promise<Res> => {
        if (!req.svm) throw new FsrvpFailure(HRESULT.E_INVALIDARG, "the call names no SVM (the FSRVP server)");
        return fn(req, call);
      };
      start().then(
        (res) => {
          log.debug({ rpc: name, svm: req.svm, setId }, "fsrvp call ok");
          cb(null, res);
        },
        (err: unknown) => {
          if (err instanceof FsrvpFailure) {
            log.info({ rpc: name, svm: req.svm, setId, hresult: err.hresult }, `fsrvp call failed: ${err.message}`);
            cb(
              fsrvpServiceError(err.hresult, {
                svm: req.svm,
                ...(setId ? { setId } : {}),
                message: err.message,
              }) as never,
              null,
            );
          } else {
            log.error({ rpc: name, svm: req.svm, err: errorMessage(err) }, "fsrvp call failed");
            cb(toServiceError(err) as never, null);
          }
        },
      );
    };
  }

  /** IDs on the wire are GUIDs; anything else is E_INVALIDARG. */
  function guid(id: string, what: string): string {
    if (!isGuid(id)) throw new FsrvpFailure(HRESULT.E_INVALIDARG, `${what} "${id}" is not a GUID`);
    return normaliseGuid(id);
  }

  /**
   * Waits for the storage work of a set: `done` when it succeeded, `failed` when the step failed
   * (the set is back where it was, with the failure recorded), `gone` when the set was removed.
   */
  async function waitForStep(
    svm: string,
    setId: string,
    succeeded: (s: NonNullable<ReturnType<typeof findSet>>) => boolean,
    budgetMs: number,
  ) {
    const outcome = (s: SvmRecord): "done" | "failed" | "gone" | null => {
      const set = findSet(s, setId);
      if (!set) return "gone";
      if (succeeded(set)) return "done";
      if (!set.pending && set.failure) return "failed";
      return null;
    };
    const s = await engine.waitFor(svm, (x) => outcome(x) !== null, budgetMs);
    if (!s) return { result: "timeout" as const };
    return { result: outcome(s)!, failure: findSet(s, setId)?.failure?.reason };
  }

  /**
   * Commit, Expose, RecoveryComplete: begin the step (persisted), then wait for the snapshot-executor.
   * A wait that runs out re-arms the 180 s timer and answers the step's timeout; the work goes on.
   */
  async function storageStep(
    svm: string,
    setId: string,
    budgetMs: number,
    o: {
      begin: (s: SvmRecord, req: { shadowCopySetId: string }, env: Env) => Outcome;
      reached: ShadowCopySetStatus;
      doing: string;
      failing: string;
      timeout: { hresult: number; retry: string };
    },
  ): Promise<Record<string, never>> {
    check((await engine.apply(svm, (s, env) => o.begin(s, { shadowCopySetId: setId }, env))).hresult ?? 0);
    const w = await waitForStep(svm, setId, (set) => set.status === o.reached, budgetMs);
    if (w.result === "timeout") {
      await engine.apply(svm, (s, env) => waitTimedOut(s, { shadowCopySetId: setId }, env));
      throw new FsrvpFailure(
        o.timeout.hresult,
        `the shadow copies were not ${o.doing} in time; the work goes on (${o.timeout.retry})`,
      );
    }
    if (w.result === "gone")
      throw new FsrvpFailure(
        HRESULT.FSRVP_E_WAIT_FAILED,
        `the set was removed while its shadow copies were being ${o.doing}`,
      );
    if (w.result === "failed")
      throw new FsrvpFailure(HRESULT.E_FAIL, `${o.failing} the shadow copies failed: ${w.failure}`);
    return {};
  }

  return {
    getSupportedVersion: rpc("GetSupportedVersion", async () => getSupportedVersion()),

    setContext: rpc("SetContext", async (req, call) => {
      const out = await engine.apply(req.svm, (s, env) =>
        setContext(s, { context: req.context, client: clientOf(call) }, env),
      );
      check(out.hresult ?? 0);
      return {};
    }),

    startShadowCopySet: rpc("StartShadowCopySet", async (req, call) => {
      const out = await engine.apply(req.svm, (s, env) =>
        startShadowCopySet(s, { clientShadowCopySetId: req.clientShadowCopySetId, client: clientOf(call) }, env),
      );
      check(out.hresult ?? 0);
      return { shadowCopySetId: out.value!.shadowCopySetId };
    }),

    addToShadowCopySet: rpc("AddToShadowCopySet", async (req) => {
      const setId = guid(req.shadowCopySetId, "ShadowCopySetId");
      const l = await lookup(req.svm, req.shareName);
      const out = await engine.apply(req.svm, (s, env) =>
        addToShadowCopySet(s, { shadowCopySetId: setId, shareNameUnc: req.shareName, lookup: l }, env),
      );
      check(out.hresult ?? 0, reasonOf(l));
      return { shadowCopyId: out.value!.shadowCopyId };
    }),

    prepareShadowCopySet: rpc("PrepareShadowCopySet", async (req) => {
      const setId = guid(req.shadowCopySetId, "ShadowCopySetId");
      check(
        (await engine.apply(req.svm, (s, env) => prepareShadowCopySet(s, { shadowCopySetId: setId }, env))).hresult ??
          0,
      );
      return {};
    }),

    commitShadowCopySet: rpc("CommitShadowCopySet", (req, call) =>
      storageStep(req.svm, guid(req.shadowCopySetId, "ShadowCopySetId"), waitBudget(call, req.timeoutInMilliseconds), {
        begin: commitBegin,
        reached: "Committed",
        doing: "made",
        failing: "making",
        timeout: { hresult: HRESULT.FSSAGENT_E_TIMEOUT, retry: "retry Commit to wait, or Abort" },
      }),
    ),

    exposeShadowCopySet: rpc("ExposeShadowCopySet", (req, call) =>
      storageStep(req.svm, guid(req.shadowCopySetId, "ShadowCopySetId"), waitBudget(call, req.timeoutInMilliseconds), {
        begin: exposeBegin,
        reached: "Exposed",
        doing: "exposed",
        failing: "exposing",
        timeout: { hresult: HRESULT.FSRVP_E_WAIT_TIMEOUT, retry: "retry Expose to wait, or Abort" },
      }),
    ),

    recoveryCompleteShadowCopySet: rpc("RecoveryCompleteShadowCopySet", (req, call) =>
      storageStep(req.svm, guid(req.shadowCopySetId, "ShadowCopySetId"), waitBudget(call), {
        begin: recoveryCompleteBegin,
        reached: "Recovered",
        doing: "sealed",
        failing: "sealing",
        timeout: { hresult: HRESULT.FSRVP_E_WAIT_TIMEOUT, retry: "retry to wait" },
      }),
    ),

    abortShadowCopySet: rpc("AbortShadowCopySet", async (req) => {
      const out = await engine.apply(req.svm, (s, env) =>
        abortShadowCopySet(s, { shadowCopySetId: req.shadowCopySetId }, env),
      );
      check(out.hresult ?? 0);
      return {};
    }),

    isPathSupported: rpc("IsPathSupported", async (req) => {
      const l = await lookup(req.svm, req.shareName);
      const out = isPathSupported((await engine.read(req.svm)) ?? emptySvmRecord(req.svm), {
        shareNameUnc: req.shareName,
        lookup: l,
      });
      check(out.hresult, reasonOf(l));
      return { supportedByThisProvider: out.value!.supported, ownerMachineName: out.value!.ownerMachineName };
    }),

    isPathShadowCopied: rpc("IsPathShadowCopied", async (req) => {
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

    getShareMapping: rpc("GetShareMapping", async (req) => {
      const out = await engine.apply(req.svm, (s, env) =>
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
      check(out.hresult ?? 0);
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

    deleteShareMapping: rpc("DeleteShareMapping", async (req, call) => {
      const out = await engine.apply(req.svm, (s, env) =>
        deleteShareMapping(
          s,
          { shadowCopySetId: req.shadowCopySetId, shadowCopyId: req.shadowCopyId, shareNameUnc: req.shareName },
          env,
        ),
      );
      check(out.hresult ?? 0);
      // The mapping is gone from FSRVP's table (persisted); answer once storage confirms, or when
      // the wait runs out (the removal is durable and goes on).
      const setId = normaliseGuid(req.shadowCopySetId);
      const copyId = normaliseGuid(req.shadowCopyId);
      await engine.waitFor(
        req.svm,
        (s) => {
          const d = s.removals.find((x) => x.setId === setId);
          return !d || !remainingStorage(d).shadowCopies.some((c) => c.id === copyId);
        },
        waitBudget(call),
      );
      return {};
    }),
  };
}
