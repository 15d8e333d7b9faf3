/** rvss snapshot list: the per-volume snapshots that are the backups. */
import { ListSnapshotsResponse, type VolumeSnapshot } from "@rvss/proto";
import { resolveBackupId } from "../ids";
import { outputOption, printer, type Column } from "../printer";
import type { Register } from "../program";
import { deleteSnapshot } from "./clean";

const COLUMNS: Column<VolumeSnapshot>[] = [
  { header: "svm", value: (s) => s.svm },
  { header: "volume", value: (s) => s.volume },
  { header: "backup", value: (s) => s.backupId },
  { header: "created", value: (s) => s.createdAt?.toISOString() ?? "" },
  { header: "shares", value: (s) => s.shadowCopies.map((c) => c.share).join(",") },
  { header: "name", value: (s) => s.name, wide: true },
];

export const snapshotVerbs: Register = (program, run) => {
  const snapshot = program.command("snapshot").description("the volume snapshots rvss keeps for restores");
  snapshot
    .command("delete")
    .description("remove one snapshot of the local filer (RVSS_FILER_CONFIG, else RVSS_HOME's); sealed, so rm cannot")
    .requiredOption("--svm <svm>", "its SVM")
    .requiredOption("--volume <volume>", "its volume")
    .requiredOption("--name <name>", "its name (rvss snapshot list -o wide shows it)")
    .action(run(deleteSnapshot));
  snapshot
    .command("list")
    .description("snapshots, filtered by SVM, volume or backup")
    .option("--svm <svm>", "only this SVM")
    .option("--volume <volume>", "only this volume")
    .option("--backup <id>", "only this backup (ID or unique prefix)")
    .addOption(outputOption())
    .action(
      run(async (s, o) => {
        const c = s.client();
        const backupId = o.backup ? await resolveBackupId(c, o.backup) : "";
        const snapshots = await c.listSnapshots({ svm: o.svm ?? "", volume: o.volume ?? "", backupId });
        printer(o.output).list(snapshots, COLUMNS, ListSnapshotsResponse.toJSON({ snapshots }), "no snapshots");
        return 0;
      }),
    );
};
