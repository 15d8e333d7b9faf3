/** rvss dlq: the dead letters, messages rvss gave up on (undecodable, or failing after every retry). */
import { type Phase, isSetOrBackupEventSubject } from "@rvss/core";
import { parseArgs } from "node:util";
import { decodeCommand, getDeadLetter, listDeadLetters, type DeadLetter } from "@rvss/bus";
import { DiscoveryCommand, Event, ExecutorCommand, NotifierCommand } from "@rvss/proto";
import { bigintJson, connectCli, usage } from "./commands";

const USAGE = "usage: rvss dlq list [--limit N] [--json] | rvss dlq show SEQ [--json]";
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

export async function dlqCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values: v, positionals } = parseArgs({
    args: rest,
    options: { limit: { type: "string" }, json: { type: "boolean" } },
    allowPositionals: true,
  });
  if (sub !== "list" && sub !== "show") throw usage(USAGE);
  const limit = Number(v.limit ?? "50");
  if (sub === "list" && (!Number.isInteger(limit) || limit < 0))
    throw usage(`--limit "${v.limit}" is not a whole number`);
  const seq = Number(positionals[0]);
  if (sub === "show" && (!Number.isInteger(seq) || seq < 1)) throw usage(USAGE);
  const bus = await connectCli();
  try {
    if (sub === "show") {
      const l = await getDeadLetter(bus, seq);
      if (!l) throw usage(`there is no dead letter #${seq}; list them with: rvss dlq list`);
      const p = payload(l);
      if (v.json) console.log(JSON.stringify({ ...summary(l), ...p }, bigintJson, 2));
      else {
        console.log(
          `dead letter #${l.seq}, ${l.time.toISOString()}\n  from      ${l.stream} #${l.streamSeq}, subject ${l.subject}\n  delivered ${l.deliveryCount} time(s)\n  reason    ${l.reason}`,
        );
        if (p.decoded) console.log(`  message   ${JSON.stringify(p.decoded, bigintJson, 2).replace(/\n/g, "\n  ")}`);
        else
          console.log(
            `  message   ${l.data.length} bytes, unreadable (${p.problem}): ${Buffer.from(l.data.slice(0, 48)).toString("hex")}${l.data.length > 48 ? "…" : ""}`,
          );
      }
      return 0;
    }
    const { total, letters } = await listDeadLetters(bus, limit);
    if (v.json) console.log(JSON.stringify({ total, letters: letters.map(summary) }, null, 2));
    else {
      for (const l of letters)
        console.log(`#${l.seq}  ${l.time.toISOString()}  ${l.subject}  delivered ${l.deliveryCount}×  ${l.reason}`);
      console.log(
        total === 0
          ? "no dead letters"
          : `${total} dead letter(s)${letters.length < total ? `, the last ${letters.length} shown` : ""}; details: rvss dlq show SEQ`,
      );
    }
    return 0;
  } finally {
    await bus.close();
  }
}
