/**
 * Typed publishing of the rvss.v1 contracts: commands to their phase's work queue, events to the
 * replayable events stream, each under the subject the topology gives it.
 */
import { ErrorCodes, RvssError, invalidArgument, isGuid, resultEventId, reportsCommand } from "@rvss/core";
import {
  DiscoveryCommand,
  Event,
  ExecutorCommand,
  NotifierCommand,
  stepToJSON,
  type CommandContext,
} from "@rvss/proto";
import { eventsPublished } from "@rvss/runtime";
import type { MsgRequest, StoredMsg } from "@nats-io/jetstream";
import type { Bus } from "./bus";
import {
  COMMAND_STREAMS,
  EVENTS_STREAM,
  backupEventSubject,
  commandSubject,
  eventSubjectType,
  scheduleEventSubject,
  setEventSubject,
  systemEventSubject,
  type Phase,
} from "@rvss/core";

export type PhaseCommand = {
  discovery: DiscoveryCommand;
  executor: ExecutorCommand;
  notifier: NotifierCommand;
};

const codecs = { discovery: DiscoveryCommand, executor: ExecutorCommand, notifier: NotifierCommand } as const;

export function commandCodec<P extends Phase>(
  phase: P,
): { encode(m: PhaseCommand[P]): { finish(): Uint8Array }; decode(b: Uint8Array): PhaseCommand[P] } {
  return codecs[phase] as never;
}

/**
 * Decodes a command and checks that it can be acted on: a context naming the command, the SVM and
 * the set (a GUID) or, for a restore, the backup; and a kind. Anything else (random bytes, a
 * truncated or foreign message) is refused with the reason, and dead-lettered without a retry.
 */
export function decodeCommand<P extends Phase>(phase: P, data: Uint8Array): PhaseCommand[P] {
  const cmd = commandCodec(phase).decode(data);
  const c = cmd.context;
  const problem = !c
    ? "it has no context"
    : !c.commandId
      ? "its context has no command ID"
      : !c.svm
        ? "its context names no SVM"
        : c.setId && !isGuid(c.setId)
          ? `its set ID "${c.setId.slice(0, 80)}" is not a GUID`
          : !c.setId && !c.backupId
            ? "its context names neither a set nor a backup"
            : !cmd.kind
              ? "it has no kind"
              : null;
  if (problem) throw invalidArgument(`not a valid ${phase} command: ${problem}`);
  return cmd;
}

/** Publishes a command; its command_id is the message ID, so a repeat is dropped by JetStream. */
export async function publishCommand<P extends Phase>(bus: Bus, phase: P, cmd: PhaseCommand[P]): Promise<void> {
  const ctx = cmd.context;
  if (!ctx || !cmd.kind) throw new Error("a command needs a context and a kind");
  const data = commandCodec(phase).encode(cmd).finish();
  await bus.publish(commandSubject(phase, ctx.svm, cmd.kind.$case), data, {
    msgId: ctx.commandId,
    correlationId: ctx.backupId || ctx.setId,
  });
}

/**
 * True when the command is still in its work queue: published and not yet acked, so it is being or
 * will be worked on. A publisher about to send it again (after the duplicate window) asks this first.
 * Other sets of the SVM queue commands on the same subject, so every message on it is looked at.
 */
export async function commandQueued(
  bus: Bus,
  phase: Phase,
  cmd: { context?: CommandContext | undefined; kind?: { $case: string } | undefined },
): Promise<boolean> {
  if (!cmd.context || !cmd.kind) return false;
  for await (const m of messagesOn(
    bus,
    COMMAND_STREAMS[phase],
    commandSubject(phase, cmd.context.svm, cmd.kind.$case),
  )) {
    if (m.header.get("Nats-Msg-Id") === cmd.context.commandId) return true;
  }
  return false;
}

/**
 * The command's results (its successes or its failure) in the events stream, oldest first. Results
 * are published before their command is acked, so a command no longer queued either has them or
 * was lost.
 */
export async function commandResults(bus: Bus, ctx: CommandContext): Promise<Event[]> {
  // The set's first event bounds the search: the stream holds every set's events for weeks.
  const first = await bus.jsm.streams.getMessage(EVENTS_STREAM, {
    last_by_subj: setEventSubject(ctx.svm, ctx.setId, "setStarted"),
  });
  const results: Event[] = [];
  for await (const m of messagesOn(bus, EVENTS_STREAM, setEventSubject(ctx.svm, ctx.setId, "*"), first?.seq ?? 1)) {
    if (!reportsCommand(m.header.get("Nats-Msg-Id"), ctx.commandId)) continue;
    try {
      results.push(decodeEvent(m.subject, m.data));
    } catch {
      // Not the command's result, whatever its ID says: it is not on its body's subject.
    }
  }
  return results;
}

/**
 * The stream's messages on a subject (wildcards allowed), oldest first, read from the stream's leader.
 * The client types next_by_subj for direct gets only; the stream's own get takes it too (server 2.9+),
 * and unlike a direct get it never answers from a lagging replica.
 */
async function* messagesOn(bus: Bus, stream: string, subject: string, fromSeq = 1): AsyncGenerator<StoredMsg> {
  for (let seq = fromSeq; ;) {
    const m = await bus.jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as MsgRequest);
    if (!m) return;
    yield m;
    seq = m.seq + 1;
  }
}

/** The event's type: its body's case ("shadowCopiesCreated"). */
export function eventType(e: Event): string {
  return e.body?.$case ?? "unknown";
}

export function eventSubject(e: Event): string {
  const b = e.body;
  if (b?.$case === "scheduleTicked") return scheduleEventSubject(b.value.schedule, eventType(e));
  const type = eventSubjectType(eventType(e), {
    step: b?.$case === "stepFailed" ? stepToJSON(b.value.step) : "",
    source: e.source,
  });
  if (e.setId) return setEventSubject(e.svm, e.setId, type);
  return e.backupId ? backupEventSubject(e.backupId, type) : systemEventSubject(e.svm, type);
}

/**
 * Decodes an event read from `subject` and refuses (for good) one that is not on the subject its
 * body belongs on. Who may publish on which subject is what NATS permissions decide, so this is what
 * makes them hold for the body: a phase cannot report another phase's step (or another set's) by
 * putting it on a subject it may publish.
 */
export function decodeEvent(subject: string, data: Uint8Array): Event {
  const e = Event.decode(data);
  const expected = eventSubject(e);
  if (subject !== expected)
    throw new RvssError(
      ErrorCodes.PERMISSION_DENIED,
      `refused: a ${eventType(e)} event on ${subject}, where only ${expected} may carry it`,
      { subject, expected },
    );
  return e;
}

/** Publishes an event; its event_id is the message ID. Returns the stream sequence. */
export async function publishEvent(bus: Bus, e: Event): Promise<number> {
  const ack = await bus.publish(eventSubject(e), Event.encode(e).finish(), {
    msgId: e.eventId,
    correlationId: e.backupId || e.setId,
  });
  eventsPublished.inc({ type: eventType(e) });
  return ack.seq;
}

/**
 * True when the events stream holds the event: the last message on its subject carries its ID.
 * Unlike the duplicate window this does not expire, so a publisher may ask it at any time later.
 * It sees only the last message of a subject: ask it of events that are the only one (or the
 * latest) of their type for their set, such as the coordinator's.
 */
export async function eventStored(bus: Bus, subject: string, eventId: string): Promise<boolean> {
  const m = await bus.jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: subject });
  return m?.header.get("Nats-Msg-Id") === eventId;
}

/** Publishes an event unless the stream already holds it; for publishing again what may have been lost. */
export async function publishEventOnce(bus: Bus, e: Event): Promise<boolean> {
  if (await eventStored(bus, eventSubject(e), e.eventId)) return false;
  await publishEvent(bus, e);
  return true;
}

/**
 * The event that reports a command's result. Its ID derives from the command's, so a handler that
 * runs twice (redelivery) publishes the same event ID and JetStream keeps one copy.
 */
export function resultEvent(
  ctx: CommandContext | undefined,
  source: string,
  body: NonNullable<Event["body"]>,
  discriminator = "",
): Event {
  const c = ctx ?? { commandId: "", svm: "", setId: "", backupId: "" };
  return {
    eventId: resultEventId(c.commandId, body.$case, discriminator),
    time: new Date(),
    svm: c.svm,
    setId: c.setId,
    backupId: c.backupId,
    source,
    body,
  };
}
