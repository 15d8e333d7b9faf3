/**
 * Removing what rvss stored, for people: sealed copies and snapshots are immutable (root cannot
 * `rm -rf` them) and btrfs snapshots are read-only subvolumes, so plain tools do not remove them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrorCodes, RvssError } from "@rvss/core";
import { defaultConfig } from "@rvss/runtime";
import { LocalBackend, removeSealedTree } from "@rvss/storage";
import { processAlive, readContext } from "../context";
import type { Register } from "../program";
import type { Session } from "../session";

/** The filer rvss up uses: RVSS_FILER_CONFIG, else the sample filer in RVSS_HOME. */
function filerFile(s: Session): string {
  const c = s.config();
  return c.filerConfig === defaultConfig().filerConfig ? path.join(c.home, "filer.json") : c.filerConfig;
}

export const cleanVerb: Register = (program, run) => {
  program
    .command("clean")
    .description(
      "remove RVSS_HOME (~/.rvss): the NATS store and the sample filer, sealed copies and snapshots included",
    )
    .action(
      run(async (s) => {
        const home = s.config().home;
        const up = readContext(home);
        if (up && processAlive(up.pid))
          throw new RvssError(ErrorCodes.CONFLICT, `rvss up (pid ${up.pid}) still uses ${home}; stop it first`, {
            path: home,
          });
        if (!fs.existsSync(home)) {
          console.log(`nothing to remove: ${home} does not exist`);
          return 0;
        }
        await removeSealedTree(home);
        console.log(`removed ${home}`);
        return 0;
      }),
    );
};

/** `rvss snapshot delete`: one snapshot of the local filer, removed on disk. */
export async function deleteSnapshot(s: Session, o: { svm: string; volume: string; name: string }): Promise<number> {
  const file = filerFile(s);
  const backend = LocalBackend.fromFile(file);
  const ref = { svm: o.svm, volume: o.volume, name: o.name };
  if (!(await backend.listSnapshots(ref.svm)).some((x) => x.volume === ref.volume && x.name === ref.name))
    throw new RvssError(
      ErrorCodes.SNAPSHOT_NOT_FOUND,
      `snapshot "${ref.name}" of volume "${ref.volume}" (SVM "${ref.svm}") does not exist in the filer ${file}`,
      { ...ref, snapshot: ref.name },
    );
  await backend.deleteSnapshot(ref);
  console.log(`deleted snapshot ${ref.svm}:${ref.volume}@${ref.name}`);
  return 0;
}
