/**
 * Removal of storage FSRVP no longer needs: a set that ends (aborted, expired, completed) or a
 * deleted share mapping leaves a pending removal in the record, which leaves only once the
 * snapshot-executor confirmed that the storage is gone, so nothing is orphaned if a process dies.
 */
import type { ErrorCode } from "../errors";
import { draft, ok } from "./record";
import { STEPS } from "./steps";
import type {
  Effect,
  Env,
  Outcome,
  PendingRemoval,
  ShadowCopyRecord,
  ShadowCopySet,
  SetSnapshot,
  SvmRecord,
} from "./types";

/** What of a pending removal is still on storage. */
export function remainingStorage(d: PendingRemoval): { shadowCopies: ShadowCopyRecord[]; snapshots: SetSnapshot[] } {
  return {
    shadowCopies: d.shadowCopies.filter((c) => !d.deletedCopies.includes(c.id)),
    snapshots: d.outcome === "aborted" ? d.snapshots.filter((s) => !d.deletedSnapshots.includes(s.name)) : [],
  };
}

/** A new pending removal for (part of) a set's storage; `from` supplies the set's backup and writers. */
export function removalEntry(
  from: Pick<ShadowCopySet, "id" | "backup" | "writers" | "writerSteps">,
  o: {
    outcome: PendingRemoval["outcome"];
    reason: string;
    code: ErrorCode | "";
    shadowCopies: ShadowCopyRecord[];
    snapshots: SetSnapshot[];
    deletedCopies?: string[];
  },
  env: Env,
): PendingRemoval {
  return {
    setId: from.id,
    ...(from.backup ? { backup: from.backup } : {}),
    ...(from.writers?.length ? { writers: from.writers } : {}),
    ...(from.writerSteps?.length ? { writerSteps: from.writerSteps } : {}),
    outcome: o.outcome,
    reason: o.reason,
    code: o.code,
    shadowCopies: o.shadowCopies,
    snapshots: o.snapshots,
    deletedCopies: o.deletedCopies ?? [],
    deletedSnapshots: [],
    attempt: 1,
    since: env.now,
  };
}

/** True when the storage side may hold something of the set (or soon will). */
/** The executor step still running for a set, which its removal must wait for. */
function inFlight(set: ShadowCopySet): PendingRemoval["waitsFor"] {
  const p = set.pending;
  return p && !p.done && STEPS[p.kind].phase === "executor" ? { step: p.kind, attempt: p.attempt } : undefined;
}

function mayHoldStorage(set: ShadowCopySet): boolean {
  if (set.status !== "Started" && set.status !== "Added") return true;
  return set.pending?.kind === "create";
}

/**
 * Removes a set from the table. Its storage, if any, moves to the removals (removed by the
 * executor, then confirmed); a set that never touched storage is finished at once.
 */
export function removeSet(
  s: SvmRecord,
  set: ShadowCopySet,
  outcome: "completed" | "aborted",
  reason: string,
  code: ErrorCode,
  env: Env,
): Effect[] {
  s.sets = s.sets.filter((x) => x.id !== set.id);
  const entry = removalEntry(
    set,
    {
      outcome,
      reason,
      code,
      shadowCopies: mayHoldStorage(set) ? set.shadowCopies : [],
      snapshots: outcome === "aborted" ? set.snapshots : set.snapshots.filter((x) => x.takenAt !== undefined),
    },
    env,
  );
  const effects: Effect[] = [];
  if (outcome === "aborted") {
    effects.push({ kind: "aborted", setId: set.id, ...(set.backup ? { backup: set.backup } : {}), reason, code });
  }
  const left = remainingStorage(entry);
  const waitsFor = inFlight(set);
  if (waitsFor) {
    // What the running step makes is removed once it reports; a removal now would race it.
    s.removals.push({ ...entry, waitsFor });
  } else if (left.shadowCopies.length > 0 || left.snapshots.length > 0) {
    s.removals.push(entry);
    effects.push({ kind: "removal", setId: set.id });
  } else {
    effects.push({ kind: "finished", entry });
  }
  return effects;
}

/**
 * The executor confirmed removal of these shadow copies (and snapshots). When nothing of the entry
 * is left, the set is finished for good.
 */
export function removalConfirmed(
  record: SvmRecord,
  req: { setId: string; shadowCopyIds: string[]; snapshots: string[] },
): Outcome {
  const entry = record.removals.find((d) => d.setId === req.setId);
  if (!entry) return ok(record);
  const s = draft(record);
  const e = s.removals.find((d) => d.setId === req.setId)!;
  e.deletedCopies = [...new Set([...e.deletedCopies, ...req.shadowCopyIds])];
  e.deletedSnapshots = [...new Set([...e.deletedSnapshots, ...req.snapshots])];
  const left = remainingStorage(e);
  if (left.shadowCopies.length > 0 || left.snapshots.length > 0) return ok(s);
  s.removals = s.removals.filter((d) => d.setId !== req.setId);
  return ok(s, undefined, [{ kind: "finished", entry: e }]);
}

/**
 * A report (or the failure) of a step that a removal waits for: once the step's last report is in,
 * the step made all it will, and the removal starts.
 */
export function waitedStepEnded(
  record: SvmRecord,
  req: { setId: string; report: string } | { setId: string; failed: string },
): Outcome {
  const entry = record.removals.find((d) => d.setId === req.setId);
  const w = entry?.waitsFor;
  if (!w) return ok(record);
  const reports: readonly string[] = STEPS[w.step].reports;
  const ended = "failed" in req ? req.failed === w.step : req.report === reports[reports.length - 1];
  if (!ended) return ok(record);
  const s = draft(record);
  delete s.removals.find((d) => d.setId === req.setId)!.waitsFor;
  return ok(s, undefined, [{ kind: "removal", setId: req.setId }]);
}
