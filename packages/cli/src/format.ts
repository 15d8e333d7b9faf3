/** How the CLI shows backups and events to people. */
import {
  BackupSetPhase,
  BackupState,
  RestoreState,
  SetStatus,
  Step,
  VerificationState,
  backupStateToJSON,
  restoreStateToJSON,
  tickOutcomeToJSON,
  type Backup,
  type Event,
  type RestoreRecord,
  type RestoredFile,
  type Schedule,
  type Verification,
  type WriterReport,
} from "@rvss/proto";

export function bytes(n: number | bigint): string {
  const v = Number(n);
  if (v < 1024) return `${v} B`;
  if (v < 1024 ** 2) return `${(v / 1024).toFixed(1)} KiB`;
  if (v < 1024 ** 3) return `${(v / 1024 ** 2).toFixed(1)} MiB`;
  return `${(v / 1024 ** 3).toFixed(2)} GiB`;
}

export function stateName(s: BackupState): string {
  return backupStateToJSON(s).replace("BACKUP_STATE_", "");
}

const statusNames: Record<number, string> = {
  [SetStatus.SET_STATUS_STARTED]: "Started",
  [SetStatus.SET_STATUS_ADDED]: "Added",
  [SetStatus.SET_STATUS_CREATION_IN_PROGRESS]: "CreationInProgress",
  [SetStatus.SET_STATUS_COMMITTED]: "Committed",
  [SetStatus.SET_STATUS_EXPOSED]: "Exposed",
  [SetStatus.SET_STATUS_RECOVERED]: "Recovered",
};

const phaseNames: Record<number, string> = {
  [BackupSetPhase.BACKUP_SET_PHASE_QUEUED]: "queued",
  [BackupSetPhase.BACKUP_SET_PHASE_RUNNING]: "running",
  [BackupSetPhase.BACKUP_SET_PHASE_COMPLETED]: "completed",
  [BackupSetPhase.BACKUP_SET_PHASE_FAILED]: "failed",
};

function writers(reports: WriterReport[]): string {
  if (reports.length === 0) return "";
  return (
    " (" +
    reports
      .map((r) => `${r.name}: ${r.ok ? "ok" : `FAILED, ${r.reason}`}${r.detail ? ` ${r.detail}` : ""}`)
      .join("; ") +
    ")"
  );
}

/** Where a snapshot's restore verification stands, in a few words. */
export function verificationText(v: Verification | undefined): string {
  switch (v?.state) {
    case VerificationState.VERIFICATION_STATE_VERIFYING:
      return "verifying";
    case VerificationState.VERIFICATION_STATE_VERIFIED:
      return `verified (${v.files} file(s), ${bytes(v.bytes)})`;
    case VerificationState.VERIFICATION_STATE_FAILED:
      return `verification FAILED: ${v.reason}${v.code ? ` (${v.code})` : ""}`;
    case VerificationState.VERIFICATION_STATE_NONE:
      return "not verified: the storage keeps no checksums (a restore checks sizes)";
    default:
      return "verification pending (a restore compares against the snapshot itself)";
  }
}

/** One line for one event: what happened, and the set status it implies where it implies one. */
export function describeEvent(e: Event): string {
  const set = e.setId ? `set ${e.setId.slice(0, 8)}` : "backup";
  const b = e.body;
  const what = ((): string => {
    switch (b?.$case) {
      case "backupCreated":
        return `created: ${b.value.shares} share(s) in ${b.value.setsPlanned} set(s)`;
      case "setStarted":
        return "started                      [Started]";
      case "sharesResolved":
        return `shares resolved: ${b.value.shares.map((s) => `${s.share} -> volume ${s.volume}:/${s.sharePath}`).join(", ")}`;
      case "sharesRejected":
        return `shares rejected: ${b.value.reason}`;
      case "sharesAdded":
        return `shares added: ${b.value.shadowCopies.map((c) => `${c.share} as shadow copy ${c.shadowCopyId.slice(0, 8)}`).join(", ")}  [Added]`;
      case "writersCheckpointed":
        return `writers checkpointed: ${b.value.writers.length} writer(s)${writers(b.value.writers)}${b.value.sharesWithoutWriters.length ? `; no writer registered for ${b.value.sharesWithoutWriters.join(", ")}` : ""}`;
      case "writersThawed":
        return `writers thawed${writers(b.value.writers)}`;
      case "writersFinished":
        return `writers told the set ${b.value.completed ? "completed" : "was aborted"}${writers(b.value.writers)}`;
      case "creationStarted":
        return "creating shadow copies       [CreationInProgress]";
      case "shadowCopiesCreated":
        return `shadow copies created: ${b.value.shadowCopies.map((c) => `${c.share} (${c.fileCount} files, ${bytes(c.bytes)})`).join(", ")}  [Committed]`;
      case "shadowCopiesExposed":
        return `exposed: ${b.value.shadowCopies.map((c) => c.exposedName).join(", ")}  [Exposed]`;
      case "writersRecovered":
        return `auto-recovery done: ${b.value.writers.length} writer(s)${writers(b.value.writers)}`;
      case "shadowCopiesSealed":
        return "shadow copies sealed read-only  [Recovered]";
      case "snapshotTaken":
        return `snapshot ${b.value.snapshot?.name} of volume ${b.value.snapshot?.volume}`;
      case "snapshotVerification":
        return `snapshot ${b.value.name} of volume ${b.value.volume}: ${verificationText(b.value.verification)}`;
      case "shadowCopiesDeleted":
        return `shadow copies and exposed shares deleted${b.value.aborted ? " (abort)" : ""}`;
      case "setCompleted":
        return "completed";
      case "setAborted":
        return `aborted: ${b.value.reason}`;
      case "stepProgress": {
        const p = b.value;
        const files = p.filesTotal ? `${p.filesDone}/${p.filesTotal} files` : `${p.filesDone} file(s)`;
        const size =
          p.bytesTotal > 0n
            ? `${bytes(p.bytesDone)} of ${bytes(p.bytesTotal)} (${Math.floor(Number((p.bytesDone * 100n) / p.bytesTotal))}%)`
            : bytes(p.bytesDone);
        const what = p.step === Step.STEP_RESTORE ? `restore ${p.restoreId.slice(0, 8)}` : "cloning";
        return `${what}: ${files}, ${size} done, ${Math.round(p.elapsedMs / 1000)} s into the step`;
      }
      case "stepFailed":
        return `step failed: ${b.value.reason}`;
      case "backupFinished":
        return `finished: ${stateName(b.value.state)}${b.value.reason ? ` (${b.value.reason})` : ""}`;
      case "restoreFinished":
        return b.value.ok
          ? `restore ${b.value.restoreId.slice(0, 8)} verified: ${b.value.files.length} files`
          : `restore failed: ${b.value.reason}`;
      default:
        return "event";
    }
  })();
  return `${e.svm ? e.svm.padEnd(6) : "".padEnd(6)} ${set.padEnd(12)} ${what}`;
}

export function describeBackup(b: Backup): string {
  const lines = [
    `Backup      ${b.id}`,
    `State       ${stateName(b.state)}${b.reason ? `: ${b.reason}` : ""}`,
    ...(b.description ? [`Description ${b.description}`] : []),
    `Created     ${b.createdAt?.toISOString() ?? ""}`,
    ...(b.finishedAt
      ? [
          `Finished    ${b.finishedAt.toISOString()} (${((b.finishedAt.getTime() - (b.createdAt?.getTime() ?? 0)) / 1000).toFixed(2)} s)`,
        ]
      : []),
    `Progress    sets ${b.progress?.setsCompleted ?? 0}/${b.progress?.setsPlanned ?? 0} done, ${b.progress?.setsFailed ?? 0} failed, ${b.progress?.snapshotsTaken ?? 0} snapshot(s)`,
    ...lifecycleLines(b),
    "Sets:",
  ];
  for (const s of b.sets) {
    const status = statusNames[s.status] ? ` [${statusNames[s.status]}]` : "";
    const queue = s.queuePosition > 0 ? ` (queue position ${s.queuePosition})` : "";
    lines.push(
      `  #${s.index} ${s.svm}: ${s.shares.join(", ")}  ${phaseNames[s.phase] ?? ""}${status}${s.stage ? ` - ${s.stage}` : ""}${queue}${s.setId ? `  set ${s.setId}` : ""}`,
    );
    if (s.reason) lines.push(`      reason: ${s.reason}`);
    for (const snap of s.snapshots)
      lines.push(`      snapshot ${snap.svm}:${snap.volume}@${snap.name}  ${verificationText(snap.verification)}`);
  }
  return lines.join("\n");
}

/** Name, labels, schedule, retention and deletion of a backup, where it has them. */
function lifecycleLines(b: Backup): string[] {
  const labels = Object.entries(b.labels).map(([k, v]) => `${k}=${v}`);
  const retention = [
    ...(b.ttl ? [`ttl ${b.ttl}, expires ${b.expiresAt?.toISOString() ?? ""}`] : []),
    ...(b.keepLast ? [`keep last ${b.keepLast}`] : []),
  ];
  return [
    ...(b.name ? [`Name        ${b.name}`] : []),
    ...(labels.length > 0 ? [`Labels      ${labels.join(",")}`] : []),
    ...(b.schedule ? [`Schedule    ${b.schedule}`] : []),
    ...(retention.length > 0 ? [`Retention   ${retention.join(", ")}`] : []),
    ...(b.deletionReason
      ? [`Deletion    ${b.deletionReason}${b.deletedAt ? `, done ${b.deletedAt.toISOString()}` : ", under way"}`]
      : []),
  ];
}

export function describeSchedule(s: Schedule): string {
  return [
    `Schedule    ${s.name}${s.paused ? " (paused)" : ""}`,
    `Cron        ${s.cron}  (${s.timezone})`,
    `Dataset     ${s.dataset.map((d) => `${d.svm}/${d.share}`).join(", ")}`,
    `Retention   ${s.ttl ? `ttl ${s.ttl}` : "no ttl"}, ${s.keepLast ? `keep last ${s.keepLast}` : "no keep-last"}`,
    `Next tick   ${s.nextTick?.toISOString() ?? "-"}`,
    `Last run    ${s.lastBackupId || "-"}`,
    "Ticks:",
    ...s.history.map((t) => {
      const outcome = tickOutcomeToJSON(t.outcome).replace("TICK_OUTCOME_", "").toLowerCase();
      const passed = t.passedOver ? ` (${t.passedOver} earlier passed over)` : "";
      return `  ${t.tick?.toISOString()}  ${outcome.padEnd(7)} ${t.backupId}${t.reason ? ` ${t.reason}` : ""}${passed}`;
    }),
  ].join("\n");
}

export function restoreStateName(s: RestoreState): string {
  return restoreStateToJSON(s).replace("RESTORE_STATE_", "");
}

/** Where a restore went: the directory, or back into the share. */
export function restoreTarget(r: RestoreRecord): string {
  return r.target?.kind?.$case === "directory" ? r.target.kind.value : "the share";
}

export function describeRestore(r: RestoreRecord): string {
  return [
    `Restore     ${r.id}`,
    `State       ${restoreStateName(r.state)}${r.reason ? `: ${r.reason} (${r.code})` : ""}`,
    `Backup      ${r.backupId}`,
    `Share       ${r.svm}/${r.share} -> ${restoreTarget(r)}`,
    `Asked by    ${r.requestedBy}`,
    `Created     ${r.createdAt?.toISOString() ?? ""}`,
    ...(r.finishedAt ? [`Finished    ${r.finishedAt.toISOString()}`] : []),
    `Files       ${r.files.length > 0 ? r.files.join(", ") : "every file of the copy"}`,
    ...r.restoredFiles.map(restoredFileLine),
    ...(r.restoredFiles.length > 0 ? [`Verified    ${restoreVerification(r.restoredFiles)}`] : []),
  ].join("\n");
}

/** One restored file and what was checked: its checksum, or only its size (ONTAP computes no checksums). */
export function restoredFileLine(f: RestoredFile): string {
  const check = f.sha256 ? `sha256 ${f.sha256.slice(0, 16)}…  verified` : "size verified, no checksum";
  return `  ${f.path}  ${bytes(f.bytes)}  ${check}`;
}

/** What a restore's verification covered, as the summary line says it. */
export function restoreVerification(files: RestoredFile[]): string {
  const summed = files.filter((f) => f.sha256 !== "").length;
  if (summed === files.length) return "every checksum verified";
  if (summed === 0) return "sizes verified (the storage computes no checksums)";
  return `${summed} checksum(s) verified, ${files.length - summed} file(s) by size only`;
}
