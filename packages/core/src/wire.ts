/**
 * Every name rvss puts on the wire, in one module: NATS subjects, stream and consumer names, KV
 * buckets and keys, and message IDs. Idempotency rests on these: a publisher that sends something
 * again (a redelivered handler, the coordinator's replay after a crash) must build the same message
 * ID as the first time, so each ID is built here and nowhere else (test/wire-names.test.ts checks
 * that no other file spells a subject, key or ID).
 *
 *   rvss.v1.cmd.<phase>.<svm>.<kind>   commands, one work-queue stream per phase
 *   rvss.v1.evt.<svm>.<set>.<type>     set events      } RVSS_EVENTS (limits retention,
 *   rvss.v1.bkp.<backup>.<type>        backup events   }  replayable)
 *   rvss.v1.sys.<svm>.<type>           SVM events      }  (the reconciler's)
 *   rvss.v1.sch.<schedule>.<type>      schedule events }
 *   rvss.v1.timer.<svm>                durable FSRVP sequence timers (work queue)
 *   rvss.v1.dlq.<stream>.<consumer>    dead letters
 *   rvss.v1.req.<phase>.<query>        queries (request/reply, queue group per service)
 *   rvss.v1.writer.<writer>.<step>     requests to application writers (request/reply)
 *   rvss.v1.audit.<decision>           audit records: who called what, allowed or denied
 *
 * A StepFailed's <type> names the phase whose step failed (`executor_step_failed`), so NATS
 * permissions let each phase report only its own steps' failures.
 * <svm> and <writer> are escaped with `token()` so names with dots stay one token. It is pure:
 * no I/O, so the writer SDK and the CLI use it without the NATS layer.
 */
import { createHash } from "node:crypto";
import { token } from "./naming";
import { PHASE_SERVICES, phaseOfFailure, phaseOfService, type Phase, type StepName } from "./fsrvp/steps";

// Streams, consumers and buckets.

export const EVENTS_STREAM = "RVSS_EVENTS";
export const TIMERS_STREAM = "RVSS_TIMERS";
export const DLQ_STREAM = "RVSS_DLQ";
/** Audit records; nobody may delete or purge them (deny_delete, deny_purge). */
export const AUDIT_STREAM = "RVSS_AUDIT";
export const STATE_BUCKET = "rvss-state";
/** Writer registrations; entries expire unless the writer puts them again (its heartbeat). */
export const WRITERS_BUCKET = "rvss-writers";

export const COMMAND_STREAMS: Record<Phase, string> = {
  discovery: "RVSS_CMD_DISCOVERY",
  executor: "RVSS_CMD_EXECUTOR",
  notifier: "RVSS_CMD_NOTIFIER",
};

/** The durable consumer each phase's replicas share: the name of the service that owns the phase. */
export const PHASE_CONSUMERS: Record<Phase, string> = PHASE_SERVICES;

export const COORDINATOR_EVENTS_CONSUMER = "coordinator";
export const COORDINATOR_TIMERS_CONSUMER = "coordinator-timers";

// Subjects.

/** "shadowCopiesCreated" -> "shadow_copies_created": oneof case to subject type. */
export function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

export function commandSubject(phase: Phase, svm: string, kind: string): string {
  return `rvss.v1.cmd.${phase}.${token(svm)}.${snake(kind)}`;
}

/** Every command subject of a phase (its work-queue stream). */
export function commandSubjects(phase: Phase): string[] {
  return [`rvss.v1.cmd.${phase}.>`];
}

/**
 * The subject type of a StepFailed event names the phase whose step failed
 * ("executor_step_failed"): each phase may publish only its own failures (nats-permissions.ts), and
 * the coordinator takes a failure only on the subject of the step's phase (bus `decodeEvent`).
 */
export function stepFailedType(phase: Phase | null): string {
  return phase ? `${phase}StepFailed` : "stepFailed";
}

/**
 * An event's subject type: its body's case, and for a StepFailed the phase of the failed step; a
 * step with no failure of its own in the table of steps (a writers' thaw) is its source's phase's.
 * Only the coordinator may publish the plain type.
 */
export function eventSubjectType(bodyCase: string, failure: { step: string; source: string }): string {
  if (bodyCase !== "stepFailed") return bodyCase;
  return stepFailedType(phaseOfFailure(failure.step) ?? phaseOfService(failure.source));
}

export function setEventSubject(svm: string, setId: string, type: string): string {
  return `rvss.v1.evt.${token(svm)}.${setId}.${snake(type)}`;
}

/** Events of one type across every SVM and set (a subscriber's filter). */
export function setEventsOfType(type: string): string {
  return `rvss.v1.evt.*.*.${snake(type)}`;
}

/** Backup events of one type across every backup. */
export function backupEventsOfType(type: string): string {
  return `rvss.v1.bkp.*.${snake(type)}`;
}

/** Every set event of one SVM (a subscriber's filter). */
export function svmEventsSubject(svm: string): string {
  return `rvss.v1.evt.${token(svm)}.>`;
}

export function backupEventSubject(backupId: string, type: string): string {
  return `rvss.v1.bkp.${backupId}.${snake(type)}`;
}

export function systemEventSubject(svm: string, type: string): string {
  return `rvss.v1.sys.${token(svm)}.${snake(type)}`;
}

export function scheduleEventSubject(schedule: string, type: string): string {
  return `rvss.v1.sch.${token(schedule)}.${snake(type)}`;
}

/** SVM events of one type across every SVM. */
export function systemEventsOfType(type: string): string {
  return `rvss.v1.sys.*.${snake(type)}`;
}

/** Every subject of the events stream. */
export const EVENT_SUBJECTS = ["rvss.v1.evt.>", "rvss.v1.bkp.>", "rvss.v1.sys.>", "rvss.v1.sch.>"];

/** True for the subject of a set or backup event (what a dead letter of the events stream was). */
export function isSetOrBackupEventSubject(subject: string): boolean {
  return subject.startsWith("rvss.v1.evt.") || subject.startsWith("rvss.v1.bkp.");
}

export function timerSubject(svm: string): string {
  return `rvss.v1.timer.${token(svm)}`;
}

export const TIMER_SUBJECTS = ["rvss.v1.timer.>"];

export function dlqSubject(stream: string, consumer: string): string {
  return `rvss.v1.dlq.${stream}.${consumer}`;
}

export const DLQ_SUBJECTS = ["rvss.v1.dlq.>"];

/**
 * A subject without its SVM, set and backup tokens ("rvss.v1.cmd.executor.*.create_shadow_copies"):
 * a name of few values, for spans.
 */
export function subjectTemplate(subject: string): string {
  const t = subject.split(".");
  const wild = (...at: number[]): string => t.map((x, i) => (at.includes(i) ? "*" : x)).join(".");
  switch (t[2]) {
    case "cmd":
      return wild(4);
    case "evt":
      return wild(3, 4);
    case "bkp":
    case "sys":
    case "timer":
    case "writer":
      return wild(3);
    default:
      return subject;
  }
}

/** Where an audit record of a call goes. */
export function auditSubject(decision: "allowed" | "denied"): string {
  return `rvss.v1.audit.${decision}`;
}

export const AUDIT_SUBJECTS = ["rvss.v1.audit.>"];

/** Where a writer answers one step of the writer protocol. */
export function writerSubject(writerId: string, step: string): string {
  return `rvss.v1.writer.${token(writerId)}.${snake(step)}`;
}

/** Every step subject of one writer (what it subscribes to). */
export function writerSubjects(writerId: string): string {
  return `rvss.v1.writer.${token(writerId)}.*`;
}

/** Every writer's step subjects (who may ask writers). */
export const WRITER_SUBJECTS = ["rvss.v1.writer.>"];

/** Queries answered over request/reply by a phase's replicas. */
export const CHECK_SHARES_SUBJECT = "rvss.v1.req.discovery.check_shares";
export const STORAGE_INVENTORY_SUBJECT = "rvss.v1.req.executor.storage_inventory";

// Keys of the rvss-state bucket (and the writers' bucket).

/** An SVM's record: its FSRVP server state and its queue of managed sets. */
export const svmKey = (svm: string): string => `svm.${token(svm)}`;
export const SVM_KEYS = "svm.*";

/** A backup's plan (written once), its status (changed by compare-and-set) and one result per set. */
export const backupKey = (id: string): string => `backup.${id}`;
export const backupStatusKey = (id: string): string => `backup.${id}.status`;
export const backupSetKey = (id: string, index: number): string => `backup.${id}.set.${index}`;
export const backupSetKeys = (id: string): string => `backup.${id}.set.*`;
/** Where one snapshot of a backup stands in its restore verification (the set's snapshot of a volume). */
export const backupVerificationKey = (id: string, setId: string, volume: string): string =>
  `backup.${id}.verification.${setId}.${token(volume)}`;
export const backupVerificationKeys = (id: string): string => `backup.${id}.verification.>`;
/** Every backup's plan key; `backupIdOf` reads the ID back. */
export const BACKUP_KEYS = "backup.*";
export const backupIdOf = (key: string): string => key.slice("backup.".length);

export const restoreKey = (id: string): string => `restore.${id}`;
export const RESTORE_KEYS = "restore.*";
/** Maps a CreateBackup request_id to the backup it created (idempotent retries). */
export const requestKey = (requestId: string): string => `request.${token(requestId)}`;
/** The planner's one record: admitted backups and released sets across SVMs. */
export const PLANNER_KEY = "planner";
/** Reads a restore's ID back from its key. */
export const restoreIdOf = (key: string): string => key.slice("restore.".length);
/** Maps a backup's user-given name to its ID; created once, so a name is taken once. */
export const backupNameKey = (name: string): string => `backup-name.${token(name)}`;
export const scheduleKey = (name: string): string => `schedule.${token(name)}`;
export const SCHEDULE_KEYS = "schedule.*";
/** The retention collector's lease: one run at a time across coordinator replicas. */
export const COLLECTOR_KEY = "collector";

/**
 * A writer's registration for one share: writer ID, SVM and share each one token (SVM and share in
 * lower case, as SMB compares them). One key per share, so NATS can bind a writer's user to the
 * shares it may register for (writerPermissions), and the notifier believes the key, not the body.
 */
export const writerKey = (writerId: string, svm: string, share: string): string =>
  `writer.${token(writerId)}.${token(svm.toLowerCase())}.${token(share.toLowerCase())}`;
/** Every registration key of one writer. */
export const writerKeys = (writerId: string): string => `writer.${token(writerId)}.>`;
export const WRITER_KEYS = "writer.>";
/** What a registration key names, as tokens (compare with writerKey's), or null for another key. */
export function writerKeyParts(key: string): { writerId: string; svm: string; share: string } | null {
  const parts = key.split(".");
  return parts.length === 4 && parts[0] === "writer" ? { writerId: parts[1]!, svm: parts[2]!, share: parts[3]! } : null;
}

// Message IDs (JetStream deduplicates on them).

/** The command for a set's pending step; a new attempt gets a new ID. */
export function stepCommandId(setId: string, step: StepName, attempt: number): string {
  return `${setId}:${step}:${attempt}`;
}

/** A removal command; `digest` names what it removes, so removing less later is a new command. */
export function removalCommandId(setId: string, attempt: number, digest: string): string {
  return `${setId}:delete:${attempt}:${digest}`;
}

/** A restore's command: one per restore record. */
export function restoreCommandId(restoreId: string): string {
  return `restore:${restoreId}`;
}

export function thawCommandId(setId: string): string {
  return `${setId}:thaw`;
}

export function finishCommandId(setId: string): string {
  return `${setId}:finish`;
}

/**
 * The event reporting a command's result. It derives from the command's ID, so a handler that runs
 * twice (redelivery) publishes the same ID and JetStream keeps one copy.
 */
export function resultEventId(commandId: string, type: string, discriminator = ""): string {
  return `${commandId}/${type}${discriminator ? "/" + discriminator : ""}`;
}

/** True when an event ID reports a result of this command. */
export function reportsCommand(eventId: string, commandId: string): boolean {
  return eventId.startsWith(`${commandId}/`);
}

/** The coordinator's own set events: one of each per set, except `added` and `creationStarted`. */
export const setStartedEventId = (setId: string): string => `${setId}:started`;
export const sharesAddedEventId = (setId: string, shadowCopyIds: string[]): string =>
  `${setId}:added:${shadowCopyIds.join(",")}`;
export const creationStartedEventId = (setId: string, attempt: number): string => `${setId}:creation:${attempt}`;
export const setAbortedEventId = (setId: string): string => `${setId}:aborted`;
export const setCompletedEventId = (setId: string): string => `${setId}:completed`;

export const backupCreatedEventId = (backupId: string): string => `${backupId}:created`;
export const backupFinishedEventId = (backupId: string): string => `${backupId}:finished`;

export const reconcileEventId = (runId: string, svm: string): string => `reconcile:${runId}:${svm}`;

/** A backup's deletion on one SVM: one command per backup and SVM, sent again after a crash under this ID. */
export const deleteSnapshotsCommandId = (backupId: string, svm: string): string => `delete:${backupId}:${token(svm)}`;
/** An admin's removal of one snapshot no backup owns; `attempt` is new per request. */
export const deleteSnapshotCommandId = (backupId: string, attempt: string): string =>
  `delete-snapshot:${backupId}:${attempt}`;
export const backupDeletedEventId = (backupId: string): string => `${backupId}:deleted`;
/**
 * A snapshot's verification reaching a state; `at` (when, epoch ms) makes a later run of the same
 * state a new fact, while the same report sent twice stays one.
 */
export const snapshotVerificationEventId = (svm: string, volume: string, name: string, state: string, at: number) =>
  `verification:${token(svm)}:${token(volume)}:${name}:${state}:${at}`;
/**
 * The ID of the backup a schedule's tick makes: a UUID (version 5 layout) from a hash of schedule,
 * its creation and the tick, so every replica derives the same one and none can start it twice.
 */
export function scheduledBackupId(schedule: string, createdAt: number, tick: number): string {
  const h = createHash("sha256").update(`schedule:${schedule}:${createdAt}:${tick}`).digest("hex");
  const variant = ((parseInt(h[16]!, 16) & 3) | 8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** A schedule's tick, decided once: the claim is a compare-and-set, and this ID drops a repeat. */
export const scheduleTickedEventId = (schedule: string, tick: number): string => `schedule:${token(schedule)}:${tick}`;

/** One message per arming of an SVM's sequence timer. */
export function timerMessageId(svm: string, generation: number, deadline: number): string {
  return `timer:${svm}:${generation}:${deadline}`;
}

/** A dead letter: the stream and sequence it came from, so dead-lettering twice stores it once. */
export function deadLetterId(stream: string, seq: number): string {
  return `${stream}:${seq}`;
}
