/** rvss restore: files out of a backup, into a directory or back into their share, checksums verified. */
import * as path from "node:path";
import { ErrorCodes, RvssError } from "@rvss/core";
import { RestoreResponse } from "@rvss/proto";
import { bytes } from "../format";
import { resolveBackupId } from "../ids";
import { outputOption, printer } from "../printer";
import type { Register } from "../program";

export const restoreVerb: Register = (program, run) => {
  program
    .command("restore")
    .description("copy files out of a backup and verify every checksum")
    .requiredOption("--backup <id>", "backup ID, or a unique prefix of it")
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
        if (!o.to === !o.toShare)
          throw new RvssError(
            ErrorCodes.INVALID_ARGUMENT,
            "name exactly one target: --to DIR (a directory) or --to-share (back into the share)",
          );
        const out = printer(o.output);
        const c = s.client();
        const target = o.to
          ? { kind: { $case: "directory" as const, value: path.resolve(o.to) } }
          : { kind: { $case: "share" as const, value: { svm: "", share: "", files: [], vms: [] } } };
        const r = await c.restore({
          backupId: await resolveBackupId(c, o.backup),
          svm: o.svm ?? "",
          share: o.share ?? "",
          files: o.file ?? [],
          target,
          overwrite: o.overwrite === true,
        });
        out.item(
          () =>
            [
              ...r.files.map((f) => `  ${f.path}  ${bytes(f.bytes)}  sha256 ${f.sha256.slice(0, 16)}…  verified`),
              `restored ${r.files.length} file(s), ${bytes(r.bytes)}, every checksum verified${o.to ? `, into ${path.resolve(o.to)}` : " into the share"}`,
            ].join("\n"),
          RestoreResponse.toJSON(r),
        );
        return 0;
      }),
    );
};
