/**
 * The command for each kind of pending work, derived from the SVM record alone, so it can be
 * published again at any time (after a crash, on a duplicate report) with the same message ID.
 */
import { createHash } from "node:crypto";
import { remainingStorage, type BackupLink, type PendingRemoval, type ShadowCopySet, type SvmRecord } from "@rvss/core";
import type { PhaseCommand, Phase } from "@rvss/bus";
import type { CommandContext } from "@rvss/proto";
import { selectionToProto, shadowCopyToProto } from "./convert";

export type AnyCommand = { [P in Phase]: { phase: P; cmd: PhaseCommand[P] } }[Phase];

function context(
  server: Pick<SvmRecord, "svm">,
  setId: string,
  backupId: string | undefined,
  commandId: string,
): CommandContext {
  return { commandId, svm: server.svm, setId, backupId: backupId ?? "" };
}

export function pendingCommand(server: SvmRecord, set: ShadowCopySet): AnyCommand | null {
  const p = set.pending;
  if (!p) return null;
  const ctx = context(server, set.id, set.backup?.backupId, `${set.id}:${p.kind}:${p.attempt}`);
  const copies = set.shadowCopies.map((c) => shadowCopyToProto(c, set.context));
  switch (p.kind) {
    case "resolve":
      return {
        phase: "discovery",
        cmd: {
          context: ctx,
          kind: {
            $case: "resolveShares",
            value: { shares: (set.requested ?? []).map((r) => selectionToProto(server.svm, r)) },
          },
        },
      };
    case "checkpoint":
      return {
        phase: "notifier",
        cmd: {
          context: ctx,
          kind: {
            $case: "checkpointWriters",
            value: { shares: set.shadowCopies.map((c) => selectionToProto(server.svm, c)) },
          },
        },
      };
    case "create":
      return {
        phase: "executor",
        cmd: { context: ctx, kind: { $case: "createShadowCopies", value: { shadowCopies: copies } } },
      };
    case "expose":
      return {
        phase: "executor",
        cmd: { context: ctx, kind: { $case: "exposeShadowCopies", value: { shadowCopies: copies } } },
      };
    case "auto_recover":
      return {
        phase: "notifier",
        cmd: {
          context: ctx,
          kind: { $case: "autoRecoverWriters", value: { shadowCopies: copies, writerIds: set.writers ?? [] } },
        },
      };
    case "seal":
      return {
        phase: "executor",
        cmd: { context: ctx, kind: { $case: "sealShadowCopies", value: { shadowCopies: copies } } },
      };
    case "finalize":
      return {
        phase: "executor",
        cmd: {
          context: ctx,
          kind: {
            $case: "finalizeShadowCopies",
            value: { shadowCopies: copies, snapshots: set.snapshots.map((s) => ({ volume: s.volume, name: s.name })) },
          },
        },
      };
  }
}

/** The removal command for what a pending removal still has on storage. */
export function removalCommand(server: SvmRecord, entry: PendingRemoval): AnyCommand | null {
  const left = remainingStorage(entry);
  if (left.shadowCopies.length === 0 && left.snapshots.length === 0) return null;
  const what = [...left.shadowCopies.map((c) => c.id), ...left.snapshots.map((s) => s.name)].sort().join(",");
  const digest = createHash("sha256").update(what).digest("hex").slice(0, 16);
  const ctx = context(server, entry.setId, entry.backup?.backupId, `${entry.setId}:delete:${entry.attempt}:${digest}`);
  return {
    phase: "executor",
    cmd: {
      context: ctx,
      kind: {
        $case: "deleteShadowCopies",
        value: {
          shadowCopies: left.shadowCopies.map((c) => shadowCopyToProto(c, 0)),
          snapshots: left.snapshots.map((s) => ({ volume: s.volume, name: s.name })),
          aborted: entry.outcome === "aborted",
          reason: entry.reason,
        },
      },
    },
  };
}

/** Tells the writers of a set that its copies exist. */
export function thawCommand(
  server: SvmRecord,
  setId: string,
  backupId: string | undefined,
  writers: string[],
): AnyCommand {
  return {
    phase: "notifier",
    cmd: {
      context: context(server, setId, backupId, `${setId}:thaw`),
      kind: { $case: "thawWriters", value: { writerIds: writers } },
    },
  };
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
  const ctx = context({ svm }, end.setId, end.backup?.backupId, `${end.setId}:finish`);
  return {
    phase: "notifier",
    cmd: {
      context: ctx,
      kind: {
        $case: "finishWriters",
        value: { writerIds: end.writers, completed: end.outcome === "completed", reason: end.reason },
      },
    },
  };
}
