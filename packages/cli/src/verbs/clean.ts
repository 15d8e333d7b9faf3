/**
 * Removing what rvss stored, for people: snapshots are immutable (root cannot `rm -rf` them) and
 * btrfs snapshots are read-only subvolumes, so plain tools do not remove them.
 */
import * as fs from "node:fs";
import { ErrorCodes, RvssError } from "@rvss/core";
import { removeSealedTree } from "@rvss/storage";
import { processAlive, readContext } from "../context";
import type { Register } from "../program";

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
