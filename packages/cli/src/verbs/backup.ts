/** rvss backup create|describe|list|cancel: managed backups through the coordinator. */
import { Command, Option } from "commander";
import { RvssError } from "@rvss/core";
import type { RvssClient } from "@rvss/client";
import { Backup, BackupState, ListBackupsResponse } from "@rvss/proto";
import { confirmed } from "../confirm";
import { datasetFrom, keepLastFrom, labelsFrom, writerErrorPolicy } from "../dataset";
import { describeBackup, describeEvent, stateName } from "../format";
import { resolveBackupId } from "../ids";
import { outputOption, printer, type Column, type Printer } from "../printer";
import type { Register } from "../program";

const collect = (v: string, all: string[] = []): string[] => [...all, v];

/** --svm/--share/--file/--dataset, shared by backup create and validate. */
export function selectionOptions(c: Command): Command {
  return c
    .option("--svm <svm>", "the SVM of the shares")
    .option("--share <share>", "a share to include (repeatable)", collect)
    .option("--file <path>", "only this file of the share, relative to its root (repeatable)", collect)
    .option("--dataset <file>", "a dataset file (JSON or YAML) instead of --svm/--share/--file");
}

const FINISHED = new Set([
  BackupState.BACKUP_STATE_COMPLETED,
  BackupState.BACKUP_STATE_PARTIALLY_FAILED,
  BackupState.BACKUP_STATE_FAILED,
  BackupState.BACKUP_STATE_CANCELLED,
]);

/** Prints the backup's events as they happen, with the time since the start; resolves with the final backup. */
export async function follow(c: RvssClient, backupId: string, say: (line: string) => void): Promise<Backup> {
  const started = Date.now();
  let last: Backup | undefined;
  try {
    for await (const msg of c.watchBackup(backupId)) {
      if (msg.event) say(`  +${((Date.now() - started) / 1000).toFixed(3)}s  ${describeEvent(msg.event)}`);
      last = msg.backup ?? last;
    }
  } catch (err) {
    const e = RvssError.from(err);
    throw new RvssError(
      e.code,
      `lost the progress of backup ${backupId} (${e.message}); the backup goes on: follow it with rvss backup describe ${backupId}`,
      { ...e.details, backupId },
    );
  }
  return last ?? (await c.getBackup(backupId));
}

const COLUMNS: Column<Backup>[] = [
  { header: "id", value: (b) => b.id },
  { header: "state", value: (b) => stateName(b.state) },
  { header: "created", value: (b) => b.createdAt?.toISOString() ?? "" },
  { header: "shares", value: (b) => b.dataset.map((d) => `${d.svm}/${d.share}`).join(",") },
  {
    header: "sets",
    value: (b) => `${b.progress?.setsCompleted ?? 0}/${b.progress?.setsPlanned ?? 0}`,
    wide: true,
  },
  { header: "finished", value: (b) => b.finishedAt?.toISOString() ?? "", wide: true },
  { header: "description", value: (b) => b.description, wide: true },
  { header: "name", value: (b) => b.name, wide: true },
  { header: "schedule", value: (b) => b.schedule, wide: true },
  { header: "expires", value: (b) => b.expiresAt?.toISOString() ?? "", wide: true },
  {
    header: "labels",
    value: (b) =>
      Object.entries(b.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
    wide: true,
  },
];

async function create(
  c: RvssClient,
  out: Printer,
  o: {
    svm?: string;
    share?: string[];
    file?: string[];
    dataset?: string;
    wait?: boolean;
    requestId?: string;
    description?: string;
    onWriterError?: string;
    name?: string;
    label?: string[];
    ttl?: string;
    keepLast?: string;
  },
): Promise<number> {
  const dataset = datasetFrom("backup create", o);
  const b = await c.createBackup({
    dataset: dataset.items,
    requestId: o.requestId ?? "",
    description: o.description ?? dataset.description,
    onWriterError: o.onWriterError ? writerErrorPolicy(o.onWriterError) : dataset.onWriterError,
    name: o.name ?? "",
    labels: labelsFrom(o.label),
    ttl: o.ttl ?? dataset.ttl,
    keepLast: o.keepLast !== undefined ? keepLastFrom(o.keepLast) : dataset.keepLast,
  });
  if (!o.wait) {
    out.item(
      () => `backup ${b.id} created (${b.sets.length} set(s)); follow it with: rvss backup describe ${b.id}`,
      Backup.toJSON(b),
    );
    return 0;
  }
  out.say(`backup ${b.id}`);
  const final = await follow(c, b.id, (l) => out.say(l));
  out.item(() => describeBackup(final), Backup.toJSON(final));
  return final.state === BackupState.BACKUP_STATE_COMPLETED ? 0 : 1;
}

async function cancel(c: RvssClient, out: Printer, prefix: string): Promise<number> {
  const id = await resolveBackupId(c, prefix);
  const before = await c.getBackup(id);
  const b = FINISHED.has(before.state) ? before : await c.cancelBackup(id);
  if (FINISHED.has(before.state) || b.state !== BackupState.BACKUP_STATE_CANCELLED) {
    out.note(`rvss: backup ${id} already finished ${stateName(b.state)}: nothing to cancel`);
    return 1;
  }
  out.item(() => `backup ${id}: cancelled`, Backup.toJSON(b));
  return 0;
}

export const backupVerbs: Register = (program, run) => {
  const backup = program.command("backup").description("create, follow, list and cancel managed backups");
  selectionOptions(backup.command("create").description("back up shares: one shadow copy set per SVM"))
    .option("--wait", "follow the backup live until it ends; exit 1 unless it completed")
    .option("--description <text>", "a note kept with the backup")
    .option("--request-id <key>", "idempotency key: a retry with the same key returns the same backup")
    .option("--name <name>", "a unique name for the backup (lowercase letters, digits, -)")
    .option("--label <key=value>", "a label (repeatable); select with backup list -l", collect)
    .option("--ttl <duration>", "how long to keep it, Velero's syntax: 720h, 1h30m; the collector deletes it then")
    .option("--keep-last <n>", "keep the n most recent completed backups per SVM; older ones are deleted")
    .addOption(
      new Option("--on-writer-error <policy>", "when a writer fails: abort the set, or snapshot anyway").choices([
        "fail",
        "continue",
      ]),
    )
    .addOption(outputOption())
    .action(run((s, o) => create(s.client(), printer(o.output), o)));
  backup
    .command("describe")
    .description("one backup: its state, sets, snapshots (and how far their verification is) and writers")
    .argument("<id>", "backup ID, name, or a unique prefix of the ID")
    .addOption(outputOption())
    .action(
      run(async (s, ref: string, o) => {
        const b = await s.client().getBackup(ref);
        printer(o.output).item(() => describeBackup(b), Backup.toJSON(b));
        return 0;
      }),
    );
  backup
    .command("list")
    .description("the backups the coordinator keeps")
    .option("--svm <svm>", "only backups touching this SVM")
    .option("--schedule <name>", "only backups made by this schedule")
    .option("-l, --selector <labels>", "only backups whose labels match, e.g. app=sql,tier!=bronze")
    .option("--all", "deleted backups too")
    .addOption(outputOption())
    .action(
      run(async (s, o) => {
        const backups = await s.client().listBackups({
          svm: o.svm ?? "",
          schedule: o.schedule ?? "",
          labelSelector: o.selector ?? "",
          all: o.all === true,
        });
        printer(o.output).list(backups, COLUMNS, ListBackupsResponse.toJSON({ backups }), "no backups");
        return 0;
      }),
    );
  backup
    .command("cancel")
    .description("stop a running backup; its sets abort and leave nothing behind")
    .argument("<id>", "backup ID, name, or a unique prefix of the ID")
    .addOption(outputOption())
    .action(run((s, prefix: string, o) => cancel(s.client(), printer(o.output), prefix)));
  backup
    .command("delete")
    .description("remove the backup's snapshots on every volume; the record stays (Deleted, shown by list --all)")
    .argument("<id>", "backup ID, name, or a unique prefix of the ID")
    .option("--confirm", "do not ask")
    .addOption(outputOption())
    .action(
      run(async (s, ref: string, o) => {
        if (!(await confirmed(`backup ${ref} and its snapshots`, o.confirm))) return 1;
        const b = await s.client().deleteBackup(ref);
        printer(o.output).item(
          () =>
            `backup ${b.id}: ${stateName(b.state)} (its snapshots are removed; the record stays: rvss backup list --all)`,
          Backup.toJSON(b),
        );
        return 0;
      }),
    );
};
