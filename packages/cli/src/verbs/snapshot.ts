/** rvss snapshot list|delete: the per-volume snapshots that are the backups. */
import { ListSnapshotsResponse, type VolumeSnapshot } from "@rvss/proto";
import { confirmed } from "../confirm";
import { resolveBackupId } from "../ids";
import { outputOption, printer, type Column } from "../printer";
import type { Register } from "../program";

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
    .description(
      "remove an rvss snapshot no backup owns (its backup was deleted or never recorded), through the executor",
    )
    .requiredOption("--svm <svm>", "its SVM")
    .requiredOption("--volume <volume>", "its volume")
    .requiredOption("--name <name>", "its name, rvss_<backup>_<set>_<time> (rvss snapshot list -o wide shows it)")
    .option("--confirm", "do not ask")
    .action(
      run(async (s, o) => {
        if (!(await confirmed(`snapshot ${o.name} of ${o.svm}:${o.volume}`, o.confirm))) return 1;
        const deleted = await s.client().deleteSnapshot({ svm: o.svm, volume: o.volume, name: o.name });
        console.log(
          deleted ? `deleted snapshot ${o.svm}:${o.volume}@${o.name}` : `snapshot ${o.name} was gone already`,
        );
        return 0;
      }),
    );
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
