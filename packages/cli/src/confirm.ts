/** Deletions ask first, as velero backup delete does: --confirm, or a yes on a terminal. */
import * as readline from "node:readline/promises";
import { ErrorCodes, RvssError } from "@rvss/core";

/** True when the user confirmed deleting `what`; without a terminal, --confirm is required. */
export async function confirmed(what: string, flag: boolean | undefined): Promise<boolean> {
  if (flag) return true;
  if (!process.stdin.isTTY) throw new RvssError(ErrorCodes.INVALID_ARGUMENT, `deleting ${what} needs --confirm`);
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`Delete ${what}? [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
