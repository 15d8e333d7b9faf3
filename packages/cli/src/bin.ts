#!/usr/bin/env node
/** rvss: the command line of the Remote VSS backup orchestrator. */
import { CommanderError } from "commander";
import { ErrorCodes, RvssError } from "@rvss/core";
import { buildProgram, commanderExit } from "./program";

/** Exits once stdout is flushed: a large output to a pipe is written asynchronously, and exit would cut it. */
function exit(code: number): void {
  process.stdout.write("", () => process.exit(code));
}

/** Exit codes: 2 for bad usage or input, 3 for a missing program, 1 for every other failure. */
function exitCode(e: RvssError): number {
  if (e.code === ErrorCodes.DEPENDENCY_MISSING) return 3;
  return e.code === ErrorCodes.INVALID_ARGUMENT ? 2 : 1;
}

// A reader that went away (rvss backup list | head) is not an error of rvss.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

const result = { value: 0 };
const program = buildProgram(result);
const argv = process.argv.slice(2);
(argv.length === 0 ? program.parseAsync(["help"], { from: "user" }) : program.parseAsync(argv, { from: "user" })).then(
  () => exit(result.value),
  (err: unknown) => {
    if (err instanceof CommanderError) return exit(commanderExit(err));
    const e = RvssError.from(err);
    process.stderr.write(`rvss: ${e.message}\n`);
    exit(exitCode(e));
  },
);
