/**
 * The command tree. Each verb module adds its commands with `register(program, run)`; adding a
 * verb is one module and one line in VERBS. `run` gives an action its session and records its
 * exit code.
 */
import { Command, CommanderError } from "commander";
import { Session } from "./session";
import { backupVerbs } from "./verbs/backup";
import { cleanVerb } from "./verbs/clean";
import { completionVerb } from "./verbs/completion";
import { demoVerb } from "./verbs/demo";
import { upVerb } from "./verbs/up";
import { dlqVerbs } from "./verbs/dlq";
import { eventsVerbs } from "./verbs/events";
import { restoreVerb } from "./verbs/restore";
import { scheduleVerbs } from "./verbs/schedule";
import { snapshotVerbs } from "./verbs/snapshot";
import { validateVerb } from "./verbs/validate";
import { versionVerb } from "./verbs/version";
import { natsConfigVerb } from "./verbs/nats-config";
import { provisionVerb } from "./verbs/provision";

/** A verb's body: its positional arguments and options, in commander's order; returns the exit code. */
export type Action = (session: Session, ...args: any[]) => Promise<number>;
export type Run = (action: Action) => (...args: unknown[]) => Promise<void>;
export type Register = (program: Command, run: Run) => void;

const VERBS: Register[] = [
  demoVerb,
  upVerb,
  backupVerbs,
  snapshotVerbs,
  restoreVerb,
  scheduleVerbs,
  eventsVerbs,
  dlqVerbs,
  validateVerb,
  cleanVerb,
  versionVerb,
  natsConfigVerb,
  provisionVerb,
  completionVerb,
];

export const EXIT_HELP =
  "Exit codes: 0 success, 1 failed (backup not completed, restore failed, violations found, error), 2 bad usage or input, 3 missing dependency.";

/** The whole tree; `exitCode.value` holds the last action's exit code. */
export function buildProgram(exitCode: { value: number }): Command {
  const program = new Command("rvss")
    .description("share-based, application-consistent backups with Remote VSS (MS-FSRVP) semantics")
    .showSuggestionAfterError(true)
    .showHelpAfterError("(run rvss help or add --help for usage)")
    .addHelpCommand("help [command]", "show help for a command")
    .addHelpText(
      "after",
      `\nSettings: RVSS_GRPC_ADDR (the coordinator) and NATS_URL (events, dlq); when unset, the context rvss up\nwrote in RVSS_HOME (~/.rvss), else 127.0.0.1:50051 and nats://127.0.0.1:4222.\n${EXIT_HELP}`,
    );
  const run: Run =
    (action) =>
    async (...args) => {
      const session = new Session();
      try {
        exitCode.value = await action(session, ...args);
      } finally {
        await session.close();
      }
    };
  for (const register of VERBS) register(program, run);
  applyToAll(program, (c) => {
    c.exitOverride();
    c.configureOutput({ outputError: (s, write) => write(s.replace(/^error: /, "rvss: ")) });
  });
  return program;
}

function applyToAll(c: Command, f: (c: Command) => void): void {
  f(c);
  for (const sub of c.commands) applyToAll(sub, f);
}

/** Exit code of a commander refusal: help and version are answers (0), everything else bad usage (2). */
export function commanderExit(err: CommanderError): number {
  return err.exitCode === 0 ? 0 : 2;
}
