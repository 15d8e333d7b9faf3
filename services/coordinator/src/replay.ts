/**
 * Publishing again what a coordinator may have lost. It writes a record, then publishes what the
 * decision asks for, and may die in between; everything it publishes follows from the records, so
 * it is published again under the same IDs: when a report comes again (it was not acked), at
 * start-up, and in the periodic sweep (which also covers gRPC calls, which nobody redelivers).
 *
 * A command is sent again only when it is no longer in its work queue (one in hand must not run
 * twice at once); events are looked up in the stream first, so a repeat long after JetStream's
 * duplicate window adds nothing either.
 *
 * A set's command or a removal still awaited long after it was sent, and no longer queued, went
 * wrong around a NATS failover: either the command was lost (sent again under its ID it would be
 * dropped as a duplicate, so it gets a new attempt, with a new ID), or its results are in the stream
 * but their effect on the record was lost with a write or a stale read (they are applied again;
 * one that no longer fits changes nothing).
 * Not covered: what an agent-API set (no backup record) reported at its very end, once its record
 * is gone.
 */
import {
  applyReport,
  findSet,
  isFinal,
  retryLostCommand,
  retryLostRemoval,
  stopWaitingForLostStep,
  svmRecordFrom,
  type BackupRecord,
  type Env,
  type Outcome,
  type ShadowCopySet,
  type SvmRecord,
  backupEventSubject,
  setEventSubject,
  SVM_KEYS,
  resultEventId,
  thawCommandId,
  finishCommandId,
  backupFinishedEventId,
} from "@rvss/core";
import { PUBLISH_GIVE_UP_MS, commandQueued, commandResults, eventType, eventStored, publishEventOnce } from "@rvss/bus";
import type { Logger } from "@rvss/runtime";
import type { StoredBackup, Backups } from "./backups";
import {
  finishCommand,
  pendingCommand,
  removalCommand,
  sentStepCommand,
  thawCommand,
  type AnyCommand,
  type SentCommand,
} from "./commands";
import type { Engine } from "./engine";
import type { Planner } from "./planner";
import { toReport } from "./reports";
import {
  backupCreatedEvent,
  creationStartedEvent,
  setAbortedEvent,
  setCompletedEvent,
  setStartedEvent,
  sharesAddedEvent,
} from "./set-events";

/** At start-up, backups that finished this recently are looked at again (a coordinator down longer may lose their last events). */
const FINISHED_HORIZON_MS = 3600_000;

export class Replay {
  private started = false;
  /** A command not answered this long after it was sent was lost: longer than a publish keeps trying, and two ack waits. */
  private readonly lostAfterMs: number;

  constructor(
    private readonly engine: Engine,
    private readonly backups: Backups,
    private readonly planner: Planner,
    private readonly log: Logger,
    ackWaitMs: number,
  ) {
    this.lostAfterMs = PUBLISH_GIVE_UP_MS + 2 * ackWaitMs;
  }

  /** A report that no longer fits came again: publish what its first application would have. */
  async afterDuplicate(server: SvmRecord, setId: string, backupId: string): Promise<void> {
    await this.set(server, setId);
    // Only a set that left the record can have ended its backup.
    const gone = !findSet(server, setId) && !server.removals.some((d) => d.setId === setId);
    const b = gone && backupId ? await this.backups.get(backupId) : null;
    if (b) await this.backup(b);
  }

  /** What one set of an SVM record implies: its events so far, the command it waits for, the writers' thaw, its removal. */
  async set(server: SvmRecord, setId: string): Promise<void> {
    const bus = this.engine.bus;
    const set = findSet(server, setId);
    if (set) {
      await publishEventOnce(bus, setStartedEvent(server.svm, set));
      const added = lastAdded(set);
      if (added.length > 0) await publishEventOnce(bus, sharesAddedEvent(server.svm, set, added));
      if (set.attempts?.create) await publishEventOnce(bus, creationStartedEvent(server.svm, set));
      const p = set.pending;
      if (p)
        await this.sendAgain(pendingCommand(server, set), p.since, (s, env) =>
          retryLostCommand(s, { setId: set.id, kind: p.kind, attempt: p.attempt }, env),
        );
      if (
        thawDue(set) &&
        !(await eventStored(
          bus,
          setEventSubject(server.svm, set.id, "writersThawed"),
          resultEventId(thawCommandId(set.id), "writersThawed"),
        ))
      ) {
        await this.resend(thawCommand(server, set.id, set.backup?.backupId, set.writers!));
      }
    }
    const entry = server.removals.find((d) => d.setId === setId);
    if (entry) {
      if (entry.outcome === "aborted" && !entry.leftover)
        await publishEventOnce(
          bus,
          setAbortedEvent(server.svm, entry.setId, entry.backup?.backupId, entry.reason, entry.code),
        );
      // A removal waiting for a step of its ended set looks for that step's results; the step's
      // command is never sent again (it would make storage for a set that has ended).
      const w = entry.waitsFor;
      if (w)
        await this.sendAgain(
          sentStepCommand(server, entry, w),
          entry.since,
          (s, env) => stopWaitingForLostStep(s, { setId: entry.setId, step: w.step, attempt: w.attempt }, env),
          { resend: false },
        );
      // A removal that failed for good waits for the reconciler's new attempt.
      else if (!entry.failure)
        await this.sendAgain(removalCommand(server, entry), entry.since, (s, env) =>
          retryLostRemoval(s, { setId: entry.setId, attempt: entry.attempt }, env),
        );
    }
  }

  /** What a backup record implies: its creation, how its sets ended, their writers told so, its end. */
  async backup(b: BackupRecord): Promise<void> {
    const bus = this.engine.bus;
    await publishEventOnce(bus, backupCreatedEvent(b));
    for (const p of b.sets) {
      if (!p.setId || (p.phase !== "completed" && p.phase !== "failed")) continue;
      const completed = p.phase === "completed";
      await publishEventOnce(
        bus,
        completed
          ? setCompletedEvent(p.svm, p.setId, b.id, p.snapshots)
          : setAbortedEvent(p.svm, p.setId, b.id, p.reason ?? "", p.code ?? ""),
      );
      const writers = [...new Set((p.writerSteps ?? []).filter((w) => w.step === "checkpoint").map((w) => w.writerId))];
      if (
        writers.length > 0 &&
        !(await eventStored(
          bus,
          setEventSubject(p.svm, p.setId, "writersFinished"),
          resultEventId(finishCommandId(p.setId), "writersFinished"),
        ))
      ) {
        const end = {
          setId: p.setId,
          backup: { backupId: b.id, index: p.index },
          writers,
          outcome: completed ? ("completed" as const) : ("aborted" as const),
          reason: p.reason ?? "",
        };
        await this.resend(finishCommand(p.svm, end));
      }
    }
    if (
      isFinal(b.state) &&
      !(await eventStored(bus, backupEventSubject(b.id, "backupFinished"), backupFinishedEventId(b.id)))
    )
      await this.backups.publishFinished(b);
  }

  /** At start-up: every running backup, and those that finished in the last hour. */
  private async recentBackups(): Promise<StoredBackup[]> {
    const since = Date.now() - FINISHED_HORIZON_MS;
    return (await this.backups.list()).filter(
      (b) => b.status.state === "Running" || (b.status.finishedAt ?? b.status.updatedAt) >= since,
    );
  }

  /**
   * Later sweeps: the backups the planner still runs sets of (not every backup ever made); finished
   * ones are left alone, as a replica that dies comes back and starts with the start-up sweep.
   */
  private async admittedBackups(): Promise<StoredBackup[]> {
    const states = await Promise.all((await this.planner.state()).backups.map((b) => this.backups.state(b.id)));
    return states.filter((b): b is StoredBackup => b !== null);
  }

  /**
   * Sends a command again unless it still waits in its work queue: one that is being worked on
   * must not run twice at once, even after JetStream's duplicate window.
   */
  private async resend(c: AnyCommand | null): Promise<void> {
    if (c && !(await commandQueued(this.engine.bus, c.phase, c.cmd))) await this.engine.send(c);
  }

  /**
   * A set's pending command or a removal, sent again as resend does while it may still be on its
   * way. Sent longer ago and no longer queued, it was answered (its results are applied again) or
   * lost (`newAttempt` takes its place). Queued is asked first: results go out before the ack.
   */
  private async sendAgain(
    c: SentCommand | null,
    since: number,
    newAttempt: (s: SvmRecord, env: Env) => Outcome<boolean>,
    o: { resend: boolean } = { resend: true },
  ): Promise<void> {
    const bus = this.engine.bus;
    if (!c?.cmd.context || (await commandQueued(bus, c.phase, c.cmd))) return;
    if (Date.now() - since < this.lostAfterMs) return o.resend ? this.engine.send(c as AnyCommand) : undefined;
    const { svm, setId, commandId } = c.cmd.context;
    const fields = { svm, setId, commandId, sentMsAgo: Date.now() - since };
    const results = await commandResults(bus, c.cmd.context);
    if (results.length === 0) {
      if ((await this.engine.apply(svm, newAttempt)).value)
        this.log.warn(fields, "command lost (neither queued nor answered): sent again as a new attempt");
      return;
    }
    const applied: string[] = [];
    for (const e of results) {
      const report = toReport(e);
      if (report && (await this.engine.apply(svm, (s, env) => applyReport(s, report, env))).applied)
        applied.push(eventType(e));
    }
    if (applied.length > 0)
      this.log.warn(
        { ...fields, applied },
        "results of a command were answered but missing from the record: applied again",
      );
  }

  /**
   * Everything durable state says is under way, published again (start-up and the periodic sweep):
   * every set's events, pending command and removal, every timer, running backups' events (at
   * start-up also those of backups that finished in the last hour); the planner releases again what
   * running backups have not finished.
   */
  async sweep(): Promise<{ svms: number; backupsRunning: number; requeued: number }> {
    const svms = (await this.engine.bus.state.list<SvmRecord>(SVM_KEYS)).map((v) => svmRecordFrom(v.value));
    for (const s of svms) {
      for (const id of new Set([...s.sets.map((x) => x.id), ...s.removals.map((d) => d.setId)])) await this.set(s, id);
      if (s.timer) await this.engine.publishTimer(s.svm, s.timer);
    }
    const recent = this.started ? await this.admittedBackups() : await this.recentBackups();
    this.started = true;
    for (const { plan } of recent) {
      const b = await this.backups.get(plan.id);
      if (b) await this.backup(b);
    }
    const running = recent.filter((b) => b.status.state === "Running");
    const { requeued } = await this.planner.resume(running.map((b) => b.plan));
    if (requeued > 0) this.log.info({ requeued }, "queued backup sets that never reached their SVM");
    return { svms: svms.length, backupsRunning: running.length, requeued };
  }
}

/** The shadow copies the set's latest AddToShadowCopySet added: all of a managed set's, an agent set's newest. */
function lastAdded(set: ShadowCopySet): string[] {
  if (set.status === "Started" || set.shadowCopies.length === 0) return [];
  if (set.backup) return set.shadowCopies.map((c) => c.id);
  const newest = set.shadowCopies.reduce((a, c) => (c.creationTimestamp > a.creationTimestamp ? c : a));
  return [newest.id];
}

/** The writers of a managed set are told to thaw once its copies exist, until they answered. */
function thawDue(set: ShadowCopySet): boolean {
  const made = set.status === "Committed" || set.status === "Exposed" || set.status === "Recovered";
  return !!set.backup && !!set.writers?.length && made && !(set.writerSteps ?? []).some((w) => w.step === "thaw");
}
