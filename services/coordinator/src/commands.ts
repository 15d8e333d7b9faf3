/**
 * The command for each step, derived from the SVM record alone, so it can be published again at
 * any time (after a crash, on a duplicate report) with the same message ID. The phase and the
 * command's case come from the table of steps (@rvss/core STEPS); this file adds only each
 * command's body, and the compiler checks that the body fits the case the table names.
 */
import { createHash } from "node:crypto";
import {
  STEPS,
  finishCommandId,
  remainingStorage,
  removalCommandId,
  stepCommandId,
  thawCommandId,
  type BackupLink,
  type PendingRemoval,
  type Phase,
  type ShadowCopySet,
  type StepKey,
  type StepName,
  type SvmRecord,
} from "@rvss/core";
import type { PhaseCommand } from "@rvss/bus";
import type { CommandContext } from "@rvss/proto";
import { selectionToProto, shadowCopyToProto } from "./convert";

export type AnyCommand = { [P in Phase]: { phase: P; cmd: PhaseCommand[P] } }[Phase];

type Spec<K extends StepKey> = (typeof STEPS)[K];
/** The body of step K's command: the value of the case the table names in its phase's oneof. */
type Body<K extends StepKey> = Extract<
  NonNullable<PhaseCommand[Spec<K>["phase"]]["kind"]>,
  { $case: Spec<K>["command"] }
>["value"];

function command<K extends StepKey>(step: K, context: CommandContext, value: Body<K>): AnyCommand {
  const spec: Spec<K> = STEPS[step];
  return { phase: spec.phase, cmd: { context, kind: { $case: spec.command, value } } } as AnyCommand;
}

function context(svm: string, setId: string, backupId: string | undefined, commandId: string): CommandContext {
  return { commandId, svm, setId, backupId: backupId ?? "" };
}

/** What each awaited step's command carries. */
const bodies: { [K in StepName]: (record: SvmRecord, set: ShadowCopySet) => Body<K> } = {
  resolve: (r, set) => ({ shares: (set.requested ?? []).map((x) => selectionToProto(r.svm, x)) }),
  checkpoint: (r, set) => ({ shares: set.shadowCopies.map((c) => selectionToProto(r.svm, c)) }),
  create: (_r, set) => ({ shadowCopies: copies(set) }),
  expose: (_r, set) => ({ shadowCopies: copies(set) }),
  auto_recover: (_r, set) => ({ shadowCopies: copies(set), writerIds: set.writers ?? [] }),
  seal: (_r, set) => ({ shadowCopies: copies(set) }),
  finalize: (_r, set) => ({
    shadowCopies: copies(set),
    snapshots: set.snapshots.map((s) => ({ volume: s.volume, name: s.name })),
  }),
};

function copies(set: ShadowCopySet) {
  return set.shadowCopies.map((c) => shadowCopyToProto(c, set.context));
}

/** The command of the step the set waits for, or null when it waits for none. */
export function pendingCommand(record: SvmRecord, set: ShadowCopySet): AnyCommand | null {
  const p = set.pending;
  if (!p || p.done) return null;
  const ctx = context(record.svm, set.id, set.backup?.backupId, stepCommandId(set.id, p.kind, p.attempt));
  return command(p.kind, ctx, bodies[p.kind](record, set) as never);
}

/** The removal command for what a pending removal still has on storage. */
export function removalCommand(record: SvmRecord, entry: PendingRemoval): AnyCommand | null {
  // A step of the ended set still runs: its last report starts the removal (core waitedStepEnded).
  if (entry.waitsFor) return null;
  const left = remainingStorage(entry);
  if (left.shadowCopies.length === 0 && left.snapshots.length === 0) return null;
  const what = [...left.shadowCopies.map((c) => c.id), ...left.snapshots.map((s) => s.name)].sort().join(",");
  const digest = createHash("sha256").update(what).digest("hex").slice(0, 16);
  const id = removalCommandId(entry.setId, entry.attempt, digest);
  return command("removal", context(record.svm, entry.setId, entry.backup?.backupId, id), {
    shadowCopies: left.shadowCopies.map((c) => shadowCopyToProto(c, 0)),
    snapshots: left.snapshots.map((s) => ({ volume: s.volume, name: s.name })),
    aborted: entry.outcome === "aborted",
    reason: entry.reason,
  });
}

/** Tells the writers of a set that its copies exist. */
export function thawCommand(
  record: SvmRecord,
  setId: string,
  backupId: string | undefined,
  writers: string[],
): AnyCommand {
  return command("thaw", context(record.svm, setId, backupId, thawCommandId(setId)), { writerIds: writers });
}

/** How a set ended, for its writers: a pending removal, or a backup's plan entry once the set is gone. */
export interface FinishedSet {
  setId: string;
  backup?: BackupLink;
  writers?: string[];
  outcome: "completed" | "aborted";
  reason: string;
}

/** Tells the writers of a finished set how it ended. */
export function finishCommand(svm: string, end: FinishedSet): AnyCommand | null {
  if (!end.writers?.length) return null;
  return command("finish", context(svm, end.setId, end.backup?.backupId, finishCommandId(end.setId)), {
    writerIds: end.writers,
    completed: end.outcome === "completed",
    reason: end.reason,
  });
}

/** What identifies a command in its work queue and its results in the events stream. */
export interface SentCommand {
  phase: Phase;
  cmd: { context?: CommandContext | undefined; kind?: { $case: string } | undefined };
}

/** The identity of a step's command as it was sent (what a removal waits for), to look it up in its queue. */
export function sentStepCommand(
  record: SvmRecord,
  entry: PendingRemoval,
  w: NonNullable<PendingRemoval["waitsFor"]>,
): SentCommand {
  const id = stepCommandId(entry.setId, w.step, w.attempt);
  return {
    phase: STEPS[w.step].phase,
    cmd: {
      context: context(record.svm, entry.setId, entry.backup?.backupId, id),
      kind: { $case: STEPS[w.step].command },
    },
  };
}
