/**
 * Applies FSRVP decisions to an SVM's record and carries out their effects. The pattern, for every
 * call and every report: read the record, decide (pure, in @rvss/core), write with compare-and-set,
 * then publish what the decision asks for. Everything published is derived from the stored
 * records, so if this process dies after the write, replay.ts publishes what is missing again under
 * the same IDs (on the redelivered report, at start-up, in the reconciler's sweep).
 */
import { randomUUID } from "node:crypto";
import {
  ErrorCodes,
  RvssError,
  emptySvmRecord,
  forgetsUnknownSvm,
  holdsNothing,
  svmRecordFrom,
  findSet,
  scheduleTimerMessage,
  startQueuedSet,
  svmKey,
  type ArmedTimer,
  type PendingRemoval,
  type Change,
  type Env,
  type SvmRecord,
  type TimerConfig,
  timerSubject,
  timerMessageId,
} from "@rvss/core";
import { Bus, publishCommand, publishEvent, type Versioned } from "@rvss/bus";
import { SequenceTimer } from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import { removalCommand, finishCommand, pendingCommand, thawCommand, type AnyCommand } from "./commands";
import { creationStartedEvent, setAbortedEvent, setStartedEvent, sharesAddedEvent } from "./set-events";

export class Engine {
  /**
   * Settles a managed set that ended for good (its backup, the backup's end, its planner slot),
   * before the write that makes the SVM record forget it: if anything fails, the redelivered report
   * finds the set still there and settles it again. Each step is idempotent.
   */
  onSetFinished?: (svm: string, entry: PendingRemoval) => Promise<void>;

  constructor(
    readonly bus: Bus,
    private readonly timers: TimerConfig,
    private readonly log: Logger,
  ) {}

  env(): Env {
    return { now: Date.now(), newId: randomUUID, timers: this.timers };
  }

  async read(svm: string): Promise<SvmRecord | null> {
    const v = (await this.bus.state.get<SvmRecord>(svmKey(svm)))?.value;
    return v ? svmRecordFrom(v) : null;
  }

  /**
   * The last record this replica wrote or read per SVM. A decision starts from it and the
   * compare-and-set tells whether another replica changed the record since; only then is it read.
   */
  private readonly known = new Map<string, Versioned<SvmRecord>>();

  /** Decides against the current record until the write wins, then carries out the effects. */
  async apply<D extends Change>(svm: string, decide: (record: SvmRecord, env: Env) => D): Promise<D> {
    try {
      return await this.decideAndWrite(svm, decide);
    } catch (err) {
      // A write that failed may still land (its fate is unknown): the next decision reads again.
      this.known.delete(svmKey(svm));
      throw err;
    }
  }

  private async decideAndWrite<D extends Change>(svm: string, decide: (record: SvmRecord, env: Env) => D): Promise<D> {
    const key = svmKey(svm);
    for (let attempt = 0; attempt < 100; attempt++) {
      const cached = attempt === 0 ? this.known.get(key) : undefined;
      const read = cached ?? (await this.bus.state.get<SvmRecord>(key));
      const cur = read && { ...read, value: svmRecordFrom(read.value) };
      const base = cur?.value ?? emptySvmRecord(svm);
      const env = this.env();
      const decided = decide(base, env);
      // A decision that changes nothing is only trusted on a fresh read: no write would catch a stale one.
      if (cached && decided.record === base) {
        this.known.delete(key);
        continue;
      }
      // Whenever the SVM is free (no context held, no set in creation), its queue moves on.
      const served = startQueuedSet(decided.record, env);
      let d =
        served.record === decided.record
          ? decided
          : { ...decided, record: served.record, effects: [...decided.effects, ...served.effects] };
      for (const e of d.effects)
        if (e.kind === "finished" && e.entry.backup) await this.onSetFinished?.(d.record.svm, e.entry);
      // A timer message goes out before the write: one for a write that then loses finds nothing to
      // do when it comes, while one published after the write could be lost with this process.
      const scheduled = scheduleTimerMessage(d.record);
      if (scheduled.publish) {
        await this.publishTimer(d.record.svm, scheduled.publish);
        d = { ...d, record: scheduled.record };
      }
      if (d.record !== base) {
        const revision = await this.bus.state.compareAndSet(key, d.record, cur?.revision ?? null);
        if (revision === null) {
          this.known.delete(key);
          if (!cached) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt * 2)));
          continue;
        }
        this.known.set(key, { value: d.record, revision });
      } else if (cur) {
        this.known.set(key, cur);
      }
      await this.carryOut(d);
      if (forgetsUnknownSvm(d)) await this.forget(svm);
      return d;
    }
    throw new RvssError(ErrorCodes.CONFLICT, `the record of SVM "${svm}" kept changing; try again`, { svm });
  }

  /** Deletes the SVM's record if it still holds nothing (compare-and-set: a record in use stays). */
  private async forget(svm: string): Promise<void> {
    const key = svmKey(svm);
    this.known.delete(key);
    const gone = await this.bus.state.mutate<SvmRecord, boolean>(key, (cur) =>
      cur && holdsNothing(svmRecordFrom(cur.value)) ? { next: null, result: true } : { next: undefined, result: false },
    );
    if (gone) this.log.info({ svm }, `SVM "${svm}" is unknown to the storage; its empty record is removed`);
  }

  /** Resolves with the SVM's record once `until` holds for it, or undefined after `timeoutMs`. */
  async waitFor(svm: string, until: (record: SvmRecord) => boolean, timeoutMs: number): Promise<SvmRecord | undefined> {
    return (
      (await this.bus.state.waitFor<SvmRecord>(svmKey(svm), (v) => v !== null && until(v), timeoutMs)) ?? undefined
    );
  }

  /** Publishes a command derived from the record (its ID too, so a repeat is dropped). */
  async send(c: AnyCommand | null): Promise<void> {
    if (!c) return;
    if (c.phase === "discovery") await publishCommand(this.bus, "discovery", c.cmd);
    else if (c.phase === "executor") await publishCommand(this.bus, "executor", c.cmd);
    else await publishCommand(this.bus, "notifier", c.cmd);
  }

  async publishTimer(svm: string, t: ArmedTimer): Promise<void> {
    const data = SequenceTimer.encode({
      svm,
      generation: BigInt(t.generation),
      deadline: new Date(t.deadline),
    }).finish();
    await this.bus.publish(timerSubject(svm), data, { msgId: timerMessageId(svm, t.generation, t.deadline) });
  }

  /**
   * Publishes what a decision asks for. All publishes start in order (NATS keeps one connection's
   * messages in order, so a set's events stay ordered) and their acknowledgements are awaited together.
   */
  private async carryOut(d: Change): Promise<void> {
    const s = d.record;
    const acks: Promise<unknown>[] = [];
    const out = (p: Promise<unknown>): void => void acks.push(p);
    for (const e of d.effects) {
      switch (e.kind) {
        case "command": {
          const set = findSet(s, e.setId);
          if (set) out(this.send(pendingCommand(s, set)));
          break;
        }
        case "thaw":
          out(this.send(thawCommand(s, e.setId, findSet(s, e.setId)?.backup?.backupId, e.writers)));
          break;
        case "removal": {
          const entry = s.removals.find((x) => x.setId === e.setId);
          if (entry) out(this.send(removalCommand(s, entry)));
          break;
        }
        case "started": {
          const set = findSet(s, e.setId)!;
          out(publishEvent(this.bus, setStartedEvent(s.svm, set)));
          this.log.info({ svm: s.svm, setId: set.id, backupId: set.backup?.backupId }, "shadow copy set started");
          break;
        }
        case "added": {
          const set = findSet(s, e.setId);
          if (set) out(publishEvent(this.bus, sharesAddedEvent(s.svm, set, e.shadowCopyIds)));
          break;
        }
        case "creationStarted": {
          const set = findSet(s, e.setId);
          if (set) out(publishEvent(this.bus, creationStartedEvent(s.svm, set)));
          break;
        }
        case "aborted":
          out(publishEvent(this.bus, setAbortedEvent(s.svm, e.setId, e.backup?.backupId, e.reason, e.code)));
          this.log.warn(
            { svm: s.svm, setId: e.setId, backupId: e.backup?.backupId, code: e.code },
            `set aborted: ${e.reason}`,
          );
          break;
        case "finished":
          out(this.send(finishCommand(s.svm, e.entry)));
          break;
      }
    }
    await Promise.all(acks);
  }
}
