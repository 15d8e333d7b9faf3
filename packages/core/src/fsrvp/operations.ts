/**
 * The FSRVP server as pure functions: each takes the SVM's record and returns the HRESULT, the next
 * record and the effects the caller must carry out (commands, events, storage removal). No I/O here.
 * Behaviour follows the current MS-FSRVP spec where Samba deviates (docs/fsrvp-conformance.md maps every checklist row).
 *
 * Operations that wait for storage (Commit, Expose, RecoveryComplete, DeleteShareMapping) are split
 * into a begin step, which records the pending work, and a completion step applied when the
 * snapshot-executor reports back. The agent API waits between the two; managed backups chain them.
 */
import { ErrorCodes, type ErrorCode } from "../errors";
import { NULL_GUID, exposedShareName, formatUnc, isGuid, normaliseGuid, parseUnc } from "../naming";
import { isValidContext } from "./context";
import { HRESULT } from "./hresult";
import { beginStep, draft, fail, findSet, hasSetInCreation, ok, releaseContext } from "./record";
import { removalEntry, removeSet } from "./removal";
import { armTimer, stopTimer } from "./timer";
import type {
  Effect,
  Env,
  MappedShare,
  Outcome,
  ShadowCopyRecord,
  ShadowCopySet,
  StepFailure,
  SvmRecord,
} from "./types";

/** How the storage side answered "where is this share?". */
export type ShareLookup =
  | { kind: "found"; share: string; volume: string; sharePath: string }
  | { kind: "notFound"; reason: string }
  | { kind: "notSupported"; reason: string };

function parseShare(unc: string): string | null {
  return parseUnc(unc)?.share ?? null;
}

function sameShare(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** Who makes an agent call: the authenticated principal, and whether it holds the admin role. */
export interface AgentCaller {
  principal: string;
  admin: boolean;
}

/**
 * A set is its FSRVP client's, the principal that started it (and StartShadowCopySet the context
 * holder's): any other caller but an admin gets E_ACCESSDENIED, before the call looks at the set's
 * state. A set that does not exist is left to the call, which answers as the spec says for an
 * unknown ID. Null when the caller may go on.
 */
export function refuseCaller<T = undefined>(record: SvmRecord, caller: AgentCaller, setId?: string): Outcome<T> | null {
  if (caller.admin) return null;
  const owner =
    setId === undefined ? (record.contextSet ? record.clientAddress : null) : findSet(record, setId)?.client;
  return owner === undefined || owner === null || owner === caller.principal
    ? null
    : fail<T>(record, HRESULT.E_ACCESSDENIED);
}

/** GetSupportedVersion (opnum 0): MinVersion = MaxVersion = FSRVP_RPC_VERSION_1. */
export function getSupportedVersion(): { minVersion: number; maxVersion: number } {
  return { minVersion: 1, maxVersion: 1 };
}

/** Retry limit of SetContext from the context owner (WS2012 R2 and later, MS-FSRVP <5>). */
export const SET_CONTEXT_RETRY_LIMIT = 5;

/** SetContext (opnum 1), MS-FSRVP 3.1.4.1. */
export function setContext(record: SvmRecord, req: { context: number; client: string }, env: Env): Outcome {
  if (!isValidContext(req.context)) return fail(record, HRESULT.FSRVP_E_UNSUPPORTED_CONTEXT);
  if (record.contextSet && record.clientAddress !== req.client) {
    return fail(record, HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
  }
  const s = draft(record);
  const effects: Effect[] = [];
  if (s.contextSet) {
    // The owner starts over: its unfinished sets go, and it may do so only a few times in a row.
    for (const set of s.sets.filter((x) => x.status !== "Recovered")) {
      effects.push(...removeSet(s, set, "aborted", "the FSRVP client set a new context", ErrorCodes.FSRVP, env));
    }
    releaseContext(s);
    s.retryCount += 1;
    if (s.retryCount > SET_CONTEXT_RETRY_LIMIT) {
      return fail(s, HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS, effects);
    }
  } else {
    s.retryCount = 0;
  }
  s.clientAddress = req.client;
  s.currentContext = req.context >>> 0;
  s.contextSet = true;
  armTimer(s, env.timers.shortMs, env);
  return ok(s, undefined, effects);
}

/** StartShadowCopySet (opnum 2), MS-FSRVP 3.1.4.3. */
export function startShadowCopySet(
  record: SvmRecord,
  req: { clientShadowCopySetId: string; client: string },
  env: Env,
): Outcome<{ shadowCopySetId: string }> {
  if (!isGuid(req.clientShadowCopySetId) || normaliseGuid(req.clientShadowCopySetId) === NULL_GUID) {
    return fail(record, HRESULT.E_INVALIDARG);
  }
  if (!record.contextSet) return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  if (hasSetInCreation(record)) return fail(record, HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS);
  const s = draft(record);
  const set: ShadowCopySet = {
    id: normaliseGuid(env.newId()),
    status: "Started",
    context: s.currentContext,
    createdAt: env.now,
    client: req.client,
    shadowCopies: [],
    snapshots: [],
  };
  s.sets.push(set);
  armTimer(s, env.timers.shortMs, env);
  return ok(s, { shadowCopySetId: set.id }, [{ kind: "started", setId: set.id }]);
}

function newShadowCopy(
  svm: string,
  lookup: { share: string; volume: string; sharePath: string },
  files: string[],
  env: Env,
): ShadowCopyRecord {
  const id = normaliseGuid(env.newId());
  const mapping: MappedShare = {
    shareNameUnc: formatUnc(svm, lookup.share),
    shadowCopyShareName: exposedShareName(lookup.share, id),
    isExposed: false,
  };
  return {
    id,
    share: lookup.share,
    volume: lookup.volume,
    sharePath: lookup.sharePath,
    files,
    creationTimestamp: env.now,
    mapping,
  };
}

/**
 * AddToShadowCopySet (opnum 3), MS-FSRVP 3.1.4.4. The caller resolves the share first (`lookup`).
 * A shadow copy is per share here (as with ONTAP), so only the same share twice collides.
 */
export function addToShadowCopySet(
  record: SvmRecord,
  req: { shadowCopySetId: string; shareNameUnc: string; lookup: ShareLookup; files?: string[] },
  env: Env,
): Outcome<{ shadowCopyId: string }> {
  if (parseShare(req.shareNameUnc) === null) return fail(record, HRESULT.E_INVALIDARG);
  if (req.lookup.kind === "notFound") return fail(record, HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  if (req.lookup.kind === "notSupported") return fail(record, HRESULT.FSRVP_E_NOT_SUPPORTED);
  const found = findSet(record, req.shadowCopySetId);
  if (!found) return fail(record, HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  if (found.status !== "Started" && found.status !== "Added") return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  stopTimer(s);
  const lookup = req.lookup;
  if (set.shadowCopies.some((c) => sameShare(c.share, lookup.share))) {
    armTimer(s, env.timers.shortMs, env);
    return fail(s, HRESULT.FSRVP_E_OBJECT_ALREADY_EXISTS);
  }
  const copy = newShadowCopy(s.svm, lookup, req.files ?? [], env);
  set.shadowCopies.push(copy);
  set.status = "Added";
  armTimer(s, env.timers.longMs, env);
  return ok(s, { shadowCopyId: copy.id }, [{ kind: "added", setId: set.id, shadowCopyIds: [copy.id] }]);
}

/** PrepareShadowCopySet (opnum 12), MS-FSRVP 3.1.4.12. Nothing to wait for on this server. */
export function prepareShadowCopySet(record: SvmRecord, req: { shadowCopySetId: string }, env: Env): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found) return fail(record, HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  if (found.status !== "Added") return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const s = draft(record);
  stopTimer(s);
  armTimer(s, env.timers.longMs, env);
  return ok(s);
}

/**
 * CommitShadowCopySet (opnum 4), MS-FSRVP 3.1.4.5, first half: CreationInProgress and the create
 * command. A retry while CreationInProgress (legal per spec) waits on the work already under way.
 */
export function commitBegin(record: SvmRecord, req: { shadowCopySetId: string }, env: Env): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found) return fail(record, HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  if (found.status !== "Added" && found.status !== "CreationInProgress") return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  // A retry (after a timed-out wait) that finds the copies made completes the Commit.
  if (found.pending?.kind === "create" && found.pending.done)
    return commitCompleted(record, { shadowCopySetId: found.id, copies: [] }, env);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  stopTimer(s);
  // A retry waits on the work under way; its command is published again (deduplicated) in case
  // the first one was lost with a crashed coordinator.
  if (set.status === "CreationInProgress" && set.pending?.kind === "create")
    return ok(s, undefined, [{ kind: "command", setId: set.id }]);
  set.status = "CreationInProgress";
  beginStep(set, "create", env);
  return ok(s, undefined, [
    { kind: "creationStarted", setId: set.id },
    { kind: "command", setId: set.id },
  ]);
}

/**
 * The storage work of a requestor's Commit, Expose or RecoveryComplete finished. The results are
 * recorded and the step marked done; the set keeps its state until the call that waits for the step
 * (or its retry after a timeout) completes the operation. The 180 s timer runs meanwhile, so a set
 * whose requestor went away is still removed.
 */
export function storageWorkDone(
  record: SvmRecord,
  req: {
    shadowCopySetId: string;
    step: "create" | "expose" | "seal";
    copies?: ({ id: string } & Partial<Pick<ShadowCopyRecord, "clonePath" | "bytes" | "fileCount" | "accessPath">>)[];
  },
  env: Env,
): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found || found.pending?.kind !== req.step || found.pending.done) return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  for (const c of req.copies ?? []) {
    const copy = set.shadowCopies.find((x) => x.id === c.id);
    if (!copy) continue;
    const { id: _id, ...reported } = c;
    Object.assign(copy, Object.fromEntries(Object.entries(reported).filter(([, v]) => v !== undefined)));
  }
  set.pending = { ...set.pending!, done: true };
  armTimer(s, env.timers.shortMs, env);
  return ok(s);
}

export interface CreatedCopy {
  id: string;
  clonePath: string;
  bytes: number;
  fileCount: number;
}

/** Commit, second half: the copies exist. Committed, timer 180 s. */
export function commitCompleted(
  record: SvmRecord,
  req: { shadowCopySetId: string; copies: CreatedCopy[] },
  env: Env,
): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found || found.status !== "CreationInProgress" || found.pending?.kind !== "create")
    return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  for (const c of req.copies) {
    const copy = set.shadowCopies.find((x) => x.id === c.id);
    if (copy) Object.assign(copy, { clonePath: c.clonePath, bytes: c.bytes, fileCount: c.fileCount });
  }
  set.status = "Committed";
  delete set.pending;
  armTimer(s, env.timers.shortMs, env);
  return ok(s);
}

/** Commit failed on storage: back to Added, timer 180 s (the executor removed what it had made). */
export function commitFailed(
  record: SvmRecord,
  req: { shadowCopySetId: string; failure: StepFailure },
  env: Env,
): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found || found.status !== "CreationInProgress") return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  set.status = "Added";
  delete set.pending;
  set.failure = req.failure;
  armTimer(s, env.timers.shortMs, env);
  return ok(s);
}

/**
 * A wait of Commit, Expose or Prepare exceeded TimeOutInMilliseconds: the set keeps its state and
 * the work goes on; the timer is re-armed for 180 s so an abandoned set is removed.
 */
export function waitTimedOut(record: SvmRecord, req: { shadowCopySetId: string }, env: Env): Outcome {
  if (!findSet(record, req.shadowCopySetId)) return fail(record, HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  const s = draft(record);
  armTimer(s, env.timers.shortMs, env);
  return ok(s);
}

/** ExposeShadowCopySet (opnum 5), MS-FSRVP 3.1.4.6, first half. */
export function exposeBegin(record: SvmRecord, req: { shadowCopySetId: string }, env: Env): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found) return fail(record, HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  if (found.status !== "Committed") return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  if (found.pending?.kind === "expose" && found.pending.done)
    return exposeCompleted(record, { shadowCopySetId: found.id }, env);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  stopTimer(s);
  if (set.pending?.kind === "expose") return ok(s, undefined, [{ kind: "command", setId: set.id }]);
  beginStep(set, "expose", env);
  return ok(s, undefined, [{ kind: "command", setId: set.id }]);
}

/** Expose, second half: Exposed, timer 180 s. Records where clients reach each copy. */
export function exposeCompleted(
  record: SvmRecord,
  req: { shadowCopySetId: string; copies?: { id: string; accessPath: string }[] },
  env: Env,
): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found || found.status !== "Committed" || found.pending?.kind !== "expose")
    return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  for (const c of set.shadowCopies) {
    if (c.mapping) c.mapping.isExposed = true;
    const reported = req.copies?.find((x) => x.id === c.id);
    if (reported?.accessPath) c.accessPath = reported.accessPath;
  }
  set.status = "Exposed";
  delete set.pending;
  armTimer(s, env.timers.shortMs, env);
  return ok(s);
}

/** RecoveryCompleteShadowCopySet (opnum 6), MS-FSRVP 3.1.4.7, first half: seal the copies read-only. */
export function recoveryCompleteBegin(record: SvmRecord, req: { shadowCopySetId: string }, env: Env): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found) return fail(record, HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  if (found.status !== "Exposed") return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  if (found.pending?.kind === "seal" && found.pending.done)
    return recoveryCompleted(record, { shadowCopySetId: found.id });
  const s = draft(record);
  const set = findSet(s, found.id)!;
  stopTimer(s);
  if (set.pending?.kind === "seal") return ok(s, undefined, [{ kind: "command", setId: set.id }]);
  beginStep(set, "seal", env);
  return ok(s, undefined, [{ kind: "command", setId: set.id }]);
}

/**
 * RecoveryComplete, second half: Recovered, context released, timer stays stopped. A managed set's
 * finalize work goes on (snapshots, removal), so its pending work stays.
 */
export function recoveryCompleted(record: SvmRecord, req: { shadowCopySetId: string }): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  const kind = found?.pending?.kind;
  if (!found || found.status !== "Exposed" || (kind !== "seal" && kind !== "finalize"))
    return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  set.status = "Recovered";
  if (kind === "seal") delete set.pending;
  stopTimer(s);
  releaseContext(s);
  return ok(s);
}

/**
 * Expose or RecoveryComplete failed on storage: the set keeps its status (Committed, Exposed) with
 * the failure recorded, and the timer is re-armed for 180 s so the client can retry or abort.
 */
export function storageStepFailed(
  record: SvmRecord,
  req: { shadowCopySetId: string; failure: StepFailure },
  env: Env,
): Outcome {
  const found = findSet(record, req.shadowCopySetId);
  if (!found || found.pending?.kind !== req.failure.step) return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  delete set.pending;
  set.failure = req.failure;
  armTimer(s, env.timers.shortMs, env);
  return ok(s);
}

/** AbortShadowCopySet (opnum 7), MS-FSRVP 3.1.4.8: removes the set in any state, and its storage. */
export function abortShadowCopySet(
  record: SvmRecord,
  req: { shadowCopySetId: string; reason?: string; code?: ErrorCode },
  env: Env,
): Outcome {
  if (!isGuid(req.shadowCopySetId) || normaliseGuid(req.shadowCopySetId) === NULL_GUID)
    return fail(record, HRESULT.E_INVALIDARG);
  const found = findSet(record, req.shadowCopySetId);
  if (!found) return fail(record, HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  const s = draft(record);
  const effects = removeSet(
    s,
    findSet(s, found.id)!,
    "aborted",
    req.reason ?? "aborted by the FSRVP client",
    req.code ?? ErrorCodes.FSRVP,
    env,
  );
  releaseContext(s);
  return ok(s, undefined, effects);
}

/** IsPathSupported (opnum 8): TRUE and the owner (the SVM), or the error of the lookup. */
export function isPathSupported(
  record: SvmRecord,
  req: { shareNameUnc: string; lookup: ShareLookup },
): Outcome<{ supported: boolean; ownerMachineName: string }> {
  if (parseShare(req.shareNameUnc) === null) return fail(record, HRESULT.E_INVALIDARG);
  if (req.lookup.kind === "notFound") return fail(record, HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  if (req.lookup.kind === "notSupported") return fail(record, HRESULT.FSRVP_E_NOT_SUPPORTED);
  return ok(record, { supported: true, ownerMachineName: record.svm });
}

/** IsPathShadowCopied (opnum 9): a copy of the share in a Committed, Exposed or Recovered set. */
export function isPathShadowCopied(
  record: SvmRecord,
  req: { shareNameUnc: string; lookup: ShareLookup },
): Outcome<{ shadowCopyPresent: boolean; shadowCopyCompatibility: number }> {
  if (parseShare(req.shareNameUnc) === null) return fail(record, HRESULT.E_INVALIDARG);
  if (req.lookup.kind === "notFound") return fail(record, HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  if (req.lookup.kind === "notSupported") return fail(record, HRESULT.FSRVP_E_NOT_SUPPORTED);
  const share = req.lookup.share;
  const present = record.sets.some(
    (set) =>
      (set.status === "Committed" || set.status === "Exposed" || set.status === "Recovered") &&
      set.shadowCopies.some((c) => c.mapping !== null && sameShare(c.share, share)),
  );
  return ok(record, { shadowCopyPresent: present, shadowCopyCompatibility: 0 });
}

export interface ShareMappingInfo {
  shadowCopySetId: string;
  shadowCopyId: string;
  shareNameUnc: string;
  /** UNC form, \\<svm>\share@{id} (the spec's form; Samba answers the bare name). */
  shadowCopyShareName: string;
  /** Epoch ms; answered as a FILETIME. */
  creationTimestamp: number;
}

/**
 * GetShareMapping (opnum 10), MS-FSRVP 3.1.4.11. Every check runs before the timer is touched, so a
 * rejected call leaves the running timer as it was; success re-arms 1800 s.
 */
export function getShareMapping(
  record: SvmRecord,
  req: { shadowCopyId: string; shadowCopySetId: string; shareNameUnc: string; level: number },
  env: Env,
): Outcome<ShareMappingInfo> {
  if (req.level !== 1) return fail(record, HRESULT.E_INVALIDARG);
  const found = findSet(record, req.shadowCopySetId);
  if (!found) return fail(record, HRESULT.FSRVP_E_SHADOWCOPYSET_ID_MISMATCH);
  if (found.status !== "Exposed") return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const share = parseShare(req.shareNameUnc);
  const copy = found.shadowCopies.find((c) => c.id === normaliseGuid(req.shadowCopyId));
  if (!copy || !copy.mapping || share === null || !sameShare(copy.share, share))
    return fail(record, HRESULT.E_INVALIDARG);
  const s = draft(record);
  stopTimer(s);
  armTimer(s, env.timers.longMs, env);
  return ok(s, {
    shadowCopySetId: found.id,
    shadowCopyId: copy.id,
    shareNameUnc: copy.mapping.shareNameUnc,
    shadowCopyShareName: copy.mapping.isExposed ? formatUnc(record.svm, copy.mapping.shadowCopyShareName) : "",
    creationTimestamp: copy.creationTimestamp,
  });
}

/**
 * DeleteShareMapping (opnum 11), MS-FSRVP 3.1.4.13: the mapping goes, then its shadow copy (it has
 * one mapping), then the set when no copy is left. Storage removal is queued as a pending removal.
 */
export function deleteShareMapping(
  record: SvmRecord,
  req: { shadowCopySetId: string; shadowCopyId: string; shareNameUnc: string },
  env: Env,
): Outcome {
  if (!isGuid(req.shadowCopySetId) || !isGuid(req.shadowCopyId) || req.shareNameUnc === "")
    return fail(record, HRESULT.E_INVALIDARG);
  const found = findSet(record, req.shadowCopySetId);
  if (!found) return fail(record, HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  if (found.status !== "Exposed" && found.status !== "Recovered") return fail(record, HRESULT.FSRVP_E_BAD_STATE);
  const copy = found.shadowCopies.find((c) => c.id === normaliseGuid(req.shadowCopyId));
  if (!copy) return fail(record, HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  const share = parseShare(req.shareNameUnc);
  if (!copy.mapping || share === null || !sameShare(copy.share, share))
    return fail(record, HRESULT.FSRVP_E_OBJECT_NOT_FOUND);
  const s = draft(record);
  const set = findSet(s, found.id)!;
  const removed = set.shadowCopies.find((c) => c.id === copy.id)!;
  set.shadowCopies = set.shadowCopies.filter((c) => c.id !== copy.id);
  const effects: Effect[] = [];
  const existing = s.removals.find((d) => d.setId === set.id);
  if (existing) {
    existing.shadowCopies.push(removed);
  } else {
    s.removals.push(
      removalEntry(
        { id: set.id, backup: set.backup },
        { outcome: "completed", reason: "share mapping deleted", code: "", shadowCopies: [removed], snapshots: [] },
        env,
      ),
    );
  }
  effects.push({ kind: "removal", setId: set.id });
  if (set.shadowCopies.length === 0) s.sets = s.sets.filter((x) => x.id !== set.id);
  return ok(s, undefined, effects);
}
