/**
 * How reports from the phases move a set on. A managed backup is an FSRVP client that rvss drives
 * itself: it goes through the very same operations as a requestor on the agent API (one truth),
 * and each completed step starts the next:
 *
 *   queued -> Started --resolve--> Added --checkpoint--> (Prepare) --> CreationInProgress --create-->
 *   Committed --expose--> Exposed --writers recover (only if writers took the checkpoint)-->
 *   (RecoveryComplete) --finalize: seal--> Recovered, snapshot per volume, copies removed -->
 *   removed (snapshots kept)
 *
 * Sets driven through the agent API only take the completions of their storage work from here.
 */
import { formatUnc, snapshotName } from "../naming";
import { MANAGED_BACKUP_CONTEXT } from "./context";
import { drainFailed } from "./reconcile";
import { HRESULT } from "./hresult";
import {
  type CreatedCopy,
  type Effect,
  type Outcome,
  addToShadowCopySet,
  armTimer,
  beginPending,
  commitBegin,
  commitCompleted,
  commitFailed,
  draft,
  exposeBegin,
  exposeCompleted,
  findSet,
  hasSetInCreation,
  plannedSnapshots,
  prepareShadowCopySet,
  recoveryCompleteBegin,
  recoveryCompleted,
  removeSet,
  storageDrained,
  storageStepFailed,
} from "./server";
import {
  type BackupLink,
  type DrainingSet,
  type Env,
  type PendingKind,
  type RequestedShare,
  type ShadowCopyRecord,
  type ShadowCopySet,
  type StepFailure,
  type SvmServer,
  type WriterErrorPolicy,
  type WriterStepRecord,
} from "./types";

export function managedClient(backupId: string): string {
  return `backup:${backupId}`;
}

export function isManaged(set: ShadowCopySet): boolean {
  return set.backup !== undefined;
}

/** A share as share-discovery resolved it. */
export interface ResolvedShareInfo {
  share: string;
  volume: string;
  sharePath: string;
  files: string[];
}

/** A report from a phase about one set, decoded from its event. */
export type StepReport =
  | { type: "sharesResolved"; setId: string; shares: ResolvedShareInfo[] }
  | { type: "writersCheckpointed"; setId: string; reports: WriterStepRecord[] }
  | { type: "writersThawed"; setId: string; reports: WriterStepRecord[] }
  | { type: "shadowCopiesCreated"; setId: string; copies: (CreatedCopy & Partial<ShadowCopyRecord>)[] }
  | { type: "shadowCopiesExposed"; setId: string; copies: { id: string; accessPath: string }[] }
  | { type: "writersRecovered"; setId: string; reports: WriterStepRecord[] }
  | { type: "shadowCopiesSealed"; setId: string }
  | { type: "snapshotTaken"; setId: string; volume: string; name: string; takenAt: number }
  | { type: "shadowCopiesDeleted"; setId: string; shadowCopyIds: string[]; snapshots: string[] }
  | { type: "stepFailed"; setId: string; step: PendingKind | "delete"; reason: string; code: string };

export interface ReportOutcome {
  server: SvmServer;
  effects: Effect[];
  /** False when the report did not fit the set's state: a duplicate, or late for a removed set. */
  applied: boolean;
}

function same(server: SvmServer, effects: Effect[] = []): ReportOutcome {
  return { server, effects, applied: false };
}

function chain(outcomes: Outcome<unknown>[]): ReportOutcome {
  const last = outcomes[outcomes.length - 1]!;
  return { server: last.server, effects: outcomes.flatMap((o) => o.effects), applied: true };
}

/** Managed sets may start when no client holds the context and no set is in creation. */
function svmIsFree(s: SvmServer): boolean {
  return !s.contextSet && !hasSetInCreation(s);
}

/**
 * Queues a managed set for its SVM ({@link startQueuedSet} starts it when the SVM is free). Queueing the same plan entry
 * twice (a redelivered request) changes nothing.
 */
export function enqueueManagedSet(
  server: SvmServer,
  req: { backup: BackupLink; shares: RequestedShare[]; onWriterError?: WriterErrorPolicy },
  env: Env,
): Outcome {
  const known =
    server.queue.some((q) => sameLink(q.backup, req.backup)) ||
    server.sets.some((x) => x.backup && sameLink(x.backup, req.backup)) ||
    server.draining.some((d) => d.backup && sameLink(d.backup, req.backup));
  if (known) return { hresult: HRESULT.ZERO, server, effects: [] };
  const s = draft(server);
  s.queue.push({
    backup: req.backup,
    shares: req.shares,
    ...(req.onWriterError ? { onWriterError: req.onWriterError } : {}),
    queuedAt: env.now,
  });
  return { hresult: HRESULT.ZERO, server: s, effects: [] };
}

function sameLink(a: BackupLink, b: BackupLink): boolean {
  return a.backupId === b.backupId && a.index === b.index;
}

/** 1-based position of a queued plan entry, or 0 when it is not queued. */
export function queuePosition(server: SvmServer, link: BackupLink): number {
  return server.queue.findIndex((q) => sameLink(q.backup, link)) + 1;
}

/**
 * Starts the head of the SVM's queue when the SVM is free: SetContext and StartShadowCopySet in one
 * step on behalf of the backup, then share resolution. The coordinator applies it after every
 * change of an SVM's record, so a queue moves on whatever freed the SVM.
 */
export function startQueuedSet(server: SvmServer, env: Env): Outcome {
  if (!svmIsFree(server) || server.queue.length === 0) return { hresult: HRESULT.ZERO, server, effects: [] };
  const s = draft(server);
  const next = s.queue.shift()!;
  const client = managedClient(next.backup.backupId);
  s.contextSet = true;
  s.clientAddress = client;
  s.currentContext = MANAGED_BACKUP_CONTEXT;
  s.retryCount = 0;
  const set: ShadowCopySet = {
    id: env.newId().toLowerCase(),
    status: "Started",
    context: MANAGED_BACKUP_CONTEXT,
    createdAt: env.now,
    client,
    backup: next.backup,
    requested: next.shares,
    onWriterError: next.onWriterError ?? "fail",
    shadowCopies: [],
    snapshots: [],
  };
  s.sets.push(set);
  armTimer(s, env.timers.shortMs, env);
  beginPending(set, "resolve", env);
  return {
    hresult: HRESULT.ZERO,
    server: s,
    effects: [
      { kind: "started", setId: set.id },
      { kind: "command", setId: set.id },
    ],
  };
}

function failure(step: PendingKind | "delete", reason: string, code: string, env: Env): StepFailure {
  return { step, reason, code, at: env.now };
}

/** Aborts a managed set with a reason; the SVM may then serve its queue. */
function abortManaged(server: SvmServer, setId: string, reason: string, code: string, env: Env): ReportOutcome {
  const s = draft(server);
  const set = findSet(s, setId)!;
  const effects = removeSet(s, set, "aborted", reason, code, env);
  // Release the context only if this set still holds it (a Recovered set released it already).
  if (s.clientAddress === set.client && set.status !== "Recovered") {
    s.contextSet = false;
    s.clientAddress = null;
    s.timer = null;
  }
  return { server: s, effects, applied: true };
}

/** Applies a phase's report to the SVM's record. */
export function applyReport(server: SvmServer, report: StepReport, env: Env): ReportOutcome {
  const set = findSet(server, report.setId);
  if (report.type === "shadowCopiesDeleted" || (report.type === "stepFailed" && report.step === "delete")) {
    if (report.type === "shadowCopiesDeleted" && set?.pending?.kind === "finalize" && !set.copiesDeleted) {
      return finalizeProgress(server, set.id, (x) => (x.copiesDeleted = true), env);
    }
    const out =
      report.type === "shadowCopiesDeleted" ? storageDrained(server, report) : drainFailed(server, report, env);
    return { server: out.server, effects: out.effects, applied: out.server !== server || out.effects.length > 0 };
  }
  // A report for a set the record no longer holds is late or repeated (a command delivered again
  // after its set ended): it changes nothing. Storage it made is in no record, so the reconciler
  // removes it as an orphan.
  if (!set) return same(server);
  if (report.type === "stepFailed") return stepFailed(server, set, report, env);
  if (report.type === "writersThawed") return writersThawed(server, set, report.reports, env);
  const expected: Record<
    Exclude<StepReport["type"], "shadowCopiesDeleted" | "stepFailed" | "writersThawed">,
    PendingKind[]
  > = {
    sharesResolved: ["resolve"],
    writersCheckpointed: ["checkpoint"],
    shadowCopiesCreated: ["create"],
    shadowCopiesExposed: ["expose"],
    writersRecovered: ["recover"],
    shadowCopiesSealed: ["seal", "finalize"],
    snapshotTaken: ["finalize"],
  };
  if (!set.pending || !expected[report.type].includes(set.pending.kind)) return same(server);
  const id = set.id;
  switch (report.type) {
    case "sharesResolved":
      return sharesResolved(server, set, report.shares, env);
    case "writersCheckpointed": {
      const recorded = recordWriters(
        server,
        id,
        report.reports,
        report.reports.map((r) => r.writerId),
      );
      const failed = writerFailure(set, report.reports);
      if (failed) return abortManaged(recorded, id, failed, "WRITER_FAILED", env);
      const prepared = prepareShadowCopySet(recorded, { shadowCopySetId: id }, env);
      return chain([prepared, commitBegin(prepared.server, { shadowCopySetId: id }, env)]);
    }
    case "shadowCopiesCreated": {
      const committed = commitCompleted(server, { shadowCopySetId: id, copies: report.copies }, env);
      if (!isManaged(set)) return chain([committed]);
      const exposing = chain([committed, exposeBegin(committed.server, { shadowCopySetId: id }, env)]);
      const writers = set.writers ?? [];
      return writers.length > 0
        ? { ...exposing, effects: [...exposing.effects, { kind: "thaw", setId: id, writers }] }
        : exposing;
    }
    case "shadowCopiesExposed": {
      const exposed = exposeCompleted(server, { shadowCopySetId: id, copies: report.copies }, env);
      if (!isManaged(set)) return chain([exposed]);
      // No writer took the checkpoint: nobody to auto-recover, so the set is sealed right away.
      if ((set.writers ?? []).length === 0) return beginFinalize(exposed.server, id, env);
      const s = exposed.server;
      beginPending(findSet(s, id)!, "recover", env);
      return { server: s, effects: [...exposed.effects, { kind: "command", setId: id }], applied: true };
    }
    case "writersRecovered": {
      const recorded = recordWriters(server, id, report.reports);
      const failed = writerFailure(set, report.reports);
      if (failed) return abortManaged(recorded, id, failed, "WRITER_FAILED", env);
      return beginFinalize(recorded, id, env);
    }
    case "shadowCopiesSealed": {
      const recovered = recoveryCompleted(server, { shadowCopySetId: id });
      if (!isManaged(set)) return chain([recovered]);
      return finalizeProgress(recovered.server, id, () => undefined, env);
    }
    case "snapshotTaken": {
      const snap = set.snapshots.find((x) => x.volume === report.volume && x.name === report.name);
      if (!snap || snap.takenAt !== undefined) return same(server);
      return finalizeProgress(
        server,
        id,
        (x) => {
          x.snapshots.find((y) => y.volume === report.volume && y.name === report.name)!.takenAt = report.takenAt;
        },
        env,
      );
    }
  }
}

/**
 * RecoveryComplete for a managed set: the FSRVP operation, then one finalize command that seals the
 * copies, takes one snapshot per volume holding shares of the set, and removes the copies.
 */
function beginFinalize(server: SvmServer, id: string, env: Env): ReportOutcome {
  const begun = recoveryCompleteBegin(server, { shadowCopySetId: id }, env);
  const s = begun.server === server ? draft(server) : begun.server;
  const set = findSet(s, id)!;
  const name = snapshotName(set.backup!.backupId, id, env.now);
  set.snapshots = plannedSnapshots(set, () => name);
  beginPending(set, "finalize", env);
  return { server: s, effects: [{ kind: "command", setId: id }], applied: true };
}

/**
 * Records one result of the finalize work (they may arrive in any order) and completes the set once
 * it is sealed (Recovered), every snapshot is taken and the copies are gone.
 */
function finalizeProgress(server: SvmServer, id: string, apply: (set: ShadowCopySet) => void, env: Env): ReportOutcome {
  const s = draft(server);
  const set = findSet(s, id)!;
  apply(set);
  const done =
    set.status === "Recovered" && set.copiesDeleted === true && set.snapshots.every((x) => x.takenAt !== undefined);
  if (!done) return { server: s, effects: [], applied: true };
  s.sets = s.sets.filter((x) => x.id !== id);
  return { server: s, effects: [{ kind: "finished", entry: completedEntry(set, env) }], applied: true };
}

/**
 * Finalize failed for good after the backup was taken (sealed, every snapshot on storage): only the
 * removal of the copies failed. That does not undo the backup: the set waits among the draining
 * ones, completed, with the failure, and ends once a new attempt (the reconciler's) removes them.
 */
function cleanupFailed(server: SvmServer, set: ShadowCopySet, f: StepFailure, env: Env): ReportOutcome {
  const s = draft(server);
  s.sets = s.sets.filter((x) => x.id !== set.id);
  s.draining.push({ ...completedEntry(set, env), deletedCopies: [], failure: { ...f, step: "delete" } });
  return { server: s, effects: [], applied: true };
}

function completedEntry(set: ShadowCopySet, env: Env): DrainingSet {
  return {
    setId: set.id,
    ...(set.backup ? { backup: set.backup } : {}),
    ...(set.writers?.length ? { writers: set.writers } : {}),
    ...(set.writerSteps?.length ? { writerSteps: set.writerSteps } : {}),
    outcome: "completed",
    reason: "backup taken",
    code: "",
    shadowCopies: set.shadowCopies,
    snapshots: set.snapshots,
    deletedCopies: set.shadowCopies.map((c) => c.id),
    deletedSnapshots: [],
    attempt: 1,
    since: env.now,
  };
}

/** Appends writer answers to the set (and, at checkpoint, records who took part). */
function recordWriters(server: SvmServer, setId: string, reports: WriterStepRecord[], writers?: string[]): SvmServer {
  if (reports.length === 0 && !writers) return server;
  const s = draft(server);
  const set = findSet(s, setId)!;
  set.writerSteps = [...(set.writerSteps ?? []), ...reports];
  if (writers) set.writers = writers;
  return s;
}

/** The abort reason when a writer failed and the set's policy is to fail; null to go on. */
function writerFailure(set: ShadowCopySet, reports: WriterStepRecord[]): string | null {
  const bad = reports.filter((r) => !r.ok);
  if (bad.length === 0 || set.onWriterError === "continue") return null;
  return bad
    .map((r) => `writer "${r.name}" (${r.writerId}) failed to ${r.step.replace("_", "-")}: ${r.reason}`)
    .join("; ");
}

/**
 * The writers resumed (or failed to). Not a step the set waits for: it goes on exposing meanwhile.
 * Under the `fail` policy a failure aborts the set unless it is already sealed.
 */
function writersThawed(server: SvmServer, set: ShadowCopySet, reports: WriterStepRecord[], env: Env): ReportOutcome {
  if ((set.writerSteps ?? []).some((r) => r.step === "thaw")) return same(server);
  const recorded = recordWriters(server, set.id, reports);
  const failed = writerFailure(set, reports);
  if (failed && set.status !== "Recovered") return abortManaged(recorded, set.id, failed, "WRITER_FAILED", env);
  return { server: recorded, effects: [], applied: true };
}

function sharesResolved(server: SvmServer, set: ShadowCopySet, shares: ResolvedShareInfo[], env: Env): ReportOutcome {
  let s = server;
  const ids: string[] = [];
  for (const share of shares) {
    const out = addToShadowCopySet(
      s,
      {
        shadowCopySetId: set.id,
        shareNameUnc: formatUnc(s.svm, share.share),
        lookup: { kind: "found", share: share.share, volume: share.volume, sharePath: share.sharePath },
        files: share.files,
      },
      env,
    );
    if (out.hresult !== HRESULT.ZERO) {
      return abortManaged(s, set.id, `share "${share.share}" could not be added to the set`, "FSRVP", env);
    }
    ids.push(out.value!.shadowCopyId);
    s = out.server;
  }
  const next = s === server ? draft(s) : s;
  beginPending(findSet(next, set.id)!, "checkpoint", env);
  return {
    server: next,
    effects: [
      { kind: "added", setId: set.id, shadowCopyIds: ids },
      { kind: "command", setId: set.id },
    ],
    applied: true,
  };
}

function stepFailed(
  server: SvmServer,
  set: ShadowCopySet,
  report: Extract<StepReport, { type: "stepFailed" }>,
  env: Env,
): ReportOutcome {
  if (report.step !== set.pending?.kind) return same(server);
  const f = failure(report.step, report.reason, report.code, env);
  const taken = set.status === "Recovered" && set.snapshots.every((x) => x.takenAt !== undefined);
  if (report.step === "finalize" && taken) return cleanupFailed(server, set, f, env);
  if (isManaged(set)) return abortManaged(server, set.id, report.reason, report.code, env);
  switch (report.step) {
    case "create":
      return chain([commitFailed(server, { shadowCopySetId: set.id, failure: f }, env)]);
    case "expose":
    case "seal":
      return chain([storageStepFailed(server, { shadowCopySetId: set.id, failure: f }, env)]);
    default:
      return same(server);
  }
}

/**
 * Cancels a backup's set on this SVM: a queued one leaves the queue, a running one is aborted
 * (its storage drained). Either way the backup learns of it through a `finished` effect.
 */
export function cancelManagedSet(server: SvmServer, link: BackupLink, env: Env): Outcome {
  const reason = "the backup was cancelled";
  if (server.queue.some((q) => sameLink(q.backup, link))) {
    const s = draft(server);
    s.queue = s.queue.filter((q) => !sameLink(q.backup, link));
    const entry = {
      setId: "",
      backup: link,
      outcome: "aborted" as const,
      reason,
      code: "CANCELLED",
      shadowCopies: [],
      snapshots: [],
      deletedCopies: [],
      deletedSnapshots: [],
      attempt: 1,
      since: env.now,
    };
    return { hresult: HRESULT.ZERO, server: s, effects: [{ kind: "finished", entry }] };
  }
  const set = server.sets.find((x) => x.backup && sameLink(x.backup, link));
  if (!set) return { hresult: HRESULT.ZERO, server, effects: [] };
  const out = abortManaged(server, set.id, reason, "CANCELLED", env);
  return { hresult: HRESULT.ZERO, server: out.server, effects: out.effects };
}
