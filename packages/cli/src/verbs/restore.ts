/**
 * rvss restore: files out of a backup, into a directory or back into their share, each verified
 * (its checksum, or its size where the storage computes none); rvss restore list|describe: the
 * restores as recorded.
 */
import * as path from "node:path";
import { EVENTS_STREAM, ErrorCodes, RvssError, backupEventSubject } from "@rvss/core";
import { Event, GetRestoreResponse, ListRestoresResponse, RestoreResponse, type RestoreRecord } from "@rvss/proto";
import {
  bytes,
  describeEvent,
  describeRestore,
  restoreStateName,
  restoreTarget,
  restoreVerification,
  restoredFileLine,
} from "../format";
import { resolveBackupId } from "../ids";
import { outputOption, printer, type Column } from "../printer";
import type { Register } from "../program";
import type { Session } from "../session";

const COLUMNS: Column<RestoreRecord>[] = [
  { header: "id", value: (r) => r.id },
  { header: "state", value: (r) => restoreStateName(r.state) },
  { header: "created", value: (r) => r.createdAt?.toISOString() ?? "" },
  { header: "backup", value: (r) => r.backupId },
  { header: "share", value: (r) => `${r.svm}/${r.share}` },
  { header: "target", value: restoreTarget },
  { header: "by", value: (r) => r.requestedBy, wide: true },
  { header: "files", value: (r) => String(r.restoredFiles.length), wide: true },
];

export const restoreVerb: Register = (program, run) => {
  const restore = program
    .command("restore")
    .description("copy files out of a backup and verify each one; restore list|describe show past restores")
    .option("--backup <id>", "backup ID, name, or a unique prefix of the ID")
    .option("--svm <svm>", "the SVM of the share (when the backup holds several shares)")
    .option("--share <share>", "the share to restore (when the backup holds several shares)")
    .option(
      "--file <path>",
      "only this file, relative to the share root (repeatable)",
      (v: string, all: string[] = []) => [...all, v],
    )
    .option("--to <dir>", "restore into this directory")
    .option("--to-share", "restore back into the share the files came from")
    .option("--overwrite", "replace files that exist at the target (refused otherwise)")
    .addOption(outputOption())
    .action(
      run(async (s, o) => {
        if (!o.backup) throw new RvssError(ErrorCodes.INVALID_ARGUMENT, "name the backup to restore from: --backup ID");
        if (!o.to === !o.toShare)
          throw new RvssError(
            ErrorCodes.INVALID_ARGUMENT,
            "name exactly one target: --to DIR (a directory) or --to-share (back into the share)",
          );
        const out = printer(o.output);
        const c = s.client();
        const backupId = await resolveBackupId(c, o.backup);
        const progress = await followProgress(s, backupId, (line) => out.say(line));
        const target = o.to
          ? { kind: { $case: "directory" as const, value: path.resolve(o.to) } }
          : { kind: { $case: "share" as const, value: { svm: "", share: "", files: [], vms: [] } } };
        const r = await c
          .restore({
            backupId,
            svm: o.svm ?? "",
            share: o.share ?? "",
            files: o.file ?? [],
            target,
            overwrite: o.overwrite === true,
          })
          .finally(() => progress.unsubscribe());
        out.item(
          () =>
            [
              ...r.files.map(restoredFileLine),
              `restored ${r.files.length} file(s), ${bytes(r.bytes)}, ${restoreVerification(r.files)}${o.to ? `, into ${path.resolve(o.to)}` : " into the share"}`,
            ].join("\n"),
          RestoreResponse.toJSON(r),
        );
        return 0;
      }),
    );
  restore
    .command("list")
    .description("the restores, newest first: who, when, which backup, files, target, outcome (--backup filters)")
    .addOption(outputOption())
    .action(
      run(async (s, o, cmd) => {
        const backup: string | undefined = cmd.parent?.opts().backup;
        const restores = await s.client().listRestores(backup ?? "");
        printer(o.output).list(restores, COLUMNS, ListRestoresResponse.toJSON({ restores }), "no restores");
        return 0;
      }),
    );
  restore
    .command("describe")
    .description("one restore as recorded, with its files and checksums")
    .argument("<id>", "restore ID, or a unique prefix of it")
    .addOption(outputOption())
    .action(
      run(async (s, id: string, o) => {
        const r = await s.client().getRestore(id);
        printer(o.output).item(() => describeRestore(r), GetRestoreResponse.toJSON({ restore: r }));
        return 0;
      }),
    );
};

/**
 * Shows the executor's progress reports of the backup's restores while the call runs (at most one a
 * second, on stderr in -o json and yaml). Without NATS the restore still runs, only silently.
 */
async function followProgress(
  s: Session,
  backupId: string,
  say: (line: string) => void,
): Promise<{ unsubscribe(): void }> {
  const bus = await s.bus([EVENTS_STREAM]).catch(() => null);
  if (!bus) return { unsubscribe: () => undefined };
  const started = Date.now();
  const sub = bus.nc.subscribe(backupEventSubject(backupId, "stepProgress"), {
    callback: (err, m) => {
      if (!err) say(`  +${((Date.now() - started) / 1000).toFixed(1)}s  ${describeEvent(Event.decode(m.data))}`);
    },
  });
  return sub;
}
