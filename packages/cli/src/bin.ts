#!/usr/bin/env node
/** rvss: the command line of the Remote VSS backup orchestrator. */
import { ErrorCodes, RvssError } from "@rvss/core";
import { backupCommand, eventsCommand, restoreCommand, snapshotCommand } from "./commands";
import { demo } from "./demo";
import { dlqCommand } from "./dlq";
import { up } from "./up";
import { validateCommand } from "./validate";

const HELP = `rvss - share-based, application-consistent backups with Remote VSS semantics

  rvss demo [--keep] [--verbose]     everything on this machine: NATS, services, a backup, a restore check
  rvss up                            run NATS (unless NATS_URL) and the four services until Ctrl-C
  rvss backup create --svm S --share X [--file F ...] [--wait] [--json]
  rvss backup create --dataset FILE.json [--wait]      (a JSON array of {"svm", "share", "files"})
  rvss backup describe ID [--json]
  rvss backup list [--svm S]
  rvss backup cancel ID
  rvss snapshot list [--svm S] [--volume V] [--backup ID]
  rvss restore --backup ID [--svm S --share X] [--file F ...] (--to DIR | --to-share)
  rvss events tail [--svm S] [--backup ID] [--all] [--json]
  rvss dlq list [--limit N] [--json]                  dead letters: messages given up on, with reason, subject, deliveries
  rvss dlq show SEQ [--json]                          one dead letter, its message decoded where possible
  rvss validate --svm S --share X [--file F ...] [--json]    preflight: the Remote VSS directory rules, the file list
  rvss validate --dataset FILE.json [--json]           (also: no VM split across the dataset's shares)

Environment: RVSS_GRPC_ADDR (coordinator, default 127.0.0.1:50051), NATS_URL (events tail, dlq, up).
Exit codes: 0 success, 1 failed (backup not Completed, restore failed, violations found, error), 2 bad usage, 3 missing dependency.`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "demo":
      return demo(rest);
    case "up":
      return up();
    case "backup":
      return backupCommand(rest);
    case "snapshot":
      return snapshotCommand(rest);
    case "restore":
      return restoreCommand(rest);
    case "events":
      return eventsCommand(rest);
    case "dlq":
      return dlqCommand(rest);
    case "validate":
      return validateCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(HELP);
      return 0;
    default:
      throw new RvssError(ErrorCodes.INVALID_ARGUMENT, `unknown command "${cmd}"; run rvss help`);
  }
}

/** Exits once stdout is flushed: a large output to a pipe is written asynchronously, and exit would cut it. */
function exit(code: number): void {
  process.stdout.write("", () => process.exit(code));
}

main(process.argv.slice(2)).then(
  (code) => exit(code),
  (err: unknown) => {
    const parseError = String((err as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS");
    const e = parseError
      ? new RvssError(ErrorCodes.INVALID_ARGUMENT, `${(err as Error).message}; run rvss help`)
      : RvssError.from(err);
    console.error(`rvss: ${e.message}`);
    exit(e.code === ErrorCodes.DEPENDENCY_MISSING ? 3 : e.code === ErrorCodes.INVALID_ARGUMENT ? 2 : 1);
  },
);
