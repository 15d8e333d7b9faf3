/**
 * Every stream, consumer, KV bucket and subject rvss uses, in one place.
 *
 *   rvss.v1.cmd.<phase>.<svm>.<kind>   commands, one work-queue stream per phase
 *   rvss.v1.evt.<svm>.<set>.<type>     set events      } RVSS_EVENTS (limits retention,
 *   rvss.v1.bkp.<backup>.<type>        backup events   }  replayable)
 *   rvss.v1.sys.<svm>.<type>           SVM events      }  (the reconciler's)
 *   rvss.v1.timer.<svm>                durable FSRVP sequence timers (work queue)
 *   rvss.v1.dlq.<stream>.<consumer>    dead letters
 *   rvss.v1.req.<service>.<query>      queries (request/reply, queue group per service)
 *   rvss.v1.writer.<writer>.<step>     requests to application writers (request/reply)
 *
 * <svm> is escaped with `token()` so names with dots stay one token.
 */
import { token } from "@rvss/core";

export type Phase = "discovery" | "executor" | "notifier";

export const EVENTS_STREAM = "RVSS_EVENTS";
export const TIMERS_STREAM = "RVSS_TIMERS";
export const DLQ_STREAM = "RVSS_DLQ";
export const STATE_BUCKET = "rvss-state";
/** Writer registrations; entries expire unless the writer puts them again (its heartbeat). */
export const WRITERS_BUCKET = "rvss-writers";

export const COMMAND_STREAMS: Record<Phase, string> = {
  discovery: "RVSS_CMD_DISCOVERY",
  executor: "RVSS_CMD_EXECUTOR",
  notifier: "RVSS_CMD_NOTIFIER",
};

/** The durable consumer each phase's replicas share. */
export const PHASE_CONSUMERS: Record<Phase, string> = {
  discovery: "share-discovery",
  executor: "snapshot-executor",
  notifier: "auto-recovery-notifier",
};

export const COORDINATOR_EVENTS_CONSUMER = "coordinator";
export const COORDINATOR_TIMERS_CONSUMER = "coordinator-timers";

export function commandSubject(phase: Phase, svm: string, kind: string): string {
  return `rvss.v1.cmd.${phase}.${token(svm)}.${snake(kind)}`;
}

export function setEventSubject(svm: string, setId: string, type: string): string {
  return `rvss.v1.evt.${token(svm)}.${setId}.${snake(type)}`;
}

export function backupEventSubject(backupId: string, type: string): string {
  return `rvss.v1.bkp.${backupId}.${snake(type)}`;
}

export function systemEventSubject(svm: string, type: string): string {
  return `rvss.v1.sys.${token(svm)}.${snake(type)}`;
}

/** Every subject of the events stream. */
export const EVENT_SUBJECTS = ["rvss.v1.evt.>", "rvss.v1.bkp.>", "rvss.v1.sys.>"];

export function timerSubject(svm: string): string {
  return `rvss.v1.timer.${token(svm)}`;
}

export function dlqSubject(stream: string, consumer: string): string {
  return `rvss.v1.dlq.${stream}.${consumer}`;
}

/** "shadowCopiesCreated" -> "shadow_copies_created": oneof case to subject type. */
export function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

/** Where a writer answers one step of the writer protocol. */
export function writerSubject(writerId: string, step: string): string {
  return `rvss.v1.writer.${token(writerId)}.${snake(step)}`;
}
