/** rvss dlq: the dead letters, messages rvss gave up on (undecodable, or failing after every retry). */
import { InvalidArgumentError } from "commander";
import { DLQ_STREAM, isSetOrBackupEventSubject, type Phase } from "@rvss/core";
import { decodeCommand, getDeadLetter, listDeadLetters, type DeadLetter } from "@rvss/bus";
import { DiscoveryCommand, Event, ExecutorCommand, NotifierCommand } from "@rvss/proto";
import { outputOption, printer, type Column } from "../printer";
import type { Register } from "../program";
const toJson = { discovery: DiscoveryCommand, executor: ExecutorCommand, notifier: NotifierCommand };

function summary(l: DeadLetter): object {
  return {
    seq: l.seq,
    time: l.time.toISOString(),
    subject: l.subject,
    stream: l.stream,
    streamSeq: l.streamSeq,
    deliveryCount: l.deliveryCount,
    reason: l.reason,
    bytes: l.data.length,
  };
}

/** The message as rvss reads it: a command or an event as JSON, or why it cannot be read. */
function payload(l: DeadLetter): { decoded?: unknown; problem?: string } {
  const phase = /^rvss\.v1\.cmd\.(discovery|executor|notifier)\./.exec(l.subject)?.[1] as Phase | undefined;
  try {
    if (phase) return { decoded: toJson[phase].toJSON(decodeCommand(phase, l.data) as never) };
    if (isSetOrBackupEventSubject(l.subject)) return { decoded: Event.toJSON(Event.decode(l.data)) };
    return { problem: "not an rvss command or event" };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

const COLUMNS: Column<DeadLetter>[] = [
  { header: "seq", value: (l) => String(l.seq) },
  { header: "time", value: (l) => l.time.toISOString() },
  { header: "subject", value: (l) => l.subject },
  { header: "delivered", value: (l) => `${l.deliveryCount}×` },
  { header: "reason", value: (l) => l.reason },
  { header: "from", value: (l) => `${l.stream} #${l.streamSeq}`, wide: true },
];

function wholeNumber(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`"${v}" is not a whole number >= ${min}`);
    return n;
  };
}

function describeLetter(l: DeadLetter, p: { decoded?: unknown; problem?: string }): string {
  const lines = [
    `dead letter #${l.seq}, ${l.time.toISOString()}`,
    `  from      ${l.stream} #${l.streamSeq}, subject ${l.subject}`,
    `  delivered ${l.deliveryCount} time(s)`,
    `  reason    ${l.reason}`,
  ];
  if (p.decoded) lines.push(`  message   ${JSON.stringify(p.decoded, null, 2).replace(/\n/g, "\n  ")}`);
  else
    lines.push(
      `  message   ${l.data.length} bytes, unreadable (${p.problem}): ${Buffer.from(l.data.slice(0, 48)).toString("hex")}${l.data.length > 48 ? "…" : ""}`,
    );
  return lines.join("\n");
}

export const dlqVerbs: Register = (program, run) => {
  const dlq = program
    .command("dlq")
    .description("dead letters: messages rvss gave up on, with reason, subject and deliveries (read-only)");
  dlq
    .command("list")
    .description("the last dead letters, oldest first")
    .option("--limit <n>", "how many to show", wholeNumber(0), 50)
    .addOption(outputOption())
    .action(
      run(async (s, o) => {
        const out = printer(o.output);
        const { total, letters } = await listDeadLetters(await s.bus([DLQ_STREAM]), o.limit);
        out.list(letters, COLUMNS, { total, letters: letters.map(summary) }, "no dead letters");
        if (total > 0 && !out.machine)
          out.note(
            `${total} dead letter(s)${letters.length < total ? `, the last ${letters.length} shown` : ""}; details: rvss dlq show SEQ`,
          );
        return 0;
      }),
    );
  dlq
    .command("show")
    .description("one dead letter, its message decoded where possible")
    .argument("<seq>", "its number in rvss dlq list", wholeNumber(1))
    .addOption(outputOption())
    .action(
      run(async (s, seq: number, o) => {
        const out = printer(o.output);
        const l = await getDeadLetter(await s.bus([DLQ_STREAM]), seq);
        if (!l) {
          // Not found is a failure (exit 1), as for a backup ID, not bad usage.
          out.note(`rvss: there is no dead letter #${seq}; list them with: rvss dlq list`);
          return 1;
        }
        const p = payload(l);
        out.item(() => describeLetter(l, p), { ...summary(l), ...p });
        return 0;
      }),
    );
};
