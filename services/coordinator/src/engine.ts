/**
 * Applies FSRVP decisions to an SVM's record and carries out their effects. The pattern, for every
 * call and every report: read the record, decide (pure, in @rvss/core), write with compare-and-set,
 * then publish what the decision asks for. Everything published is derived from the stored
 * records, so if this process dies after the write, replay.ts publishes what is missing again under
 * the same IDs (on the redelivered report, at start-up, in the periodic sweep).
 */
import { randomUUID } from "node:crypto";
import {
  ErrorCodes,
  RvssError,
  emptyServer,
  findSet,
  startQueuedSet,
  type BackupRecord,
  type Effect,
  type Env,
  type SvmServer,
  type TimerConfig,
} from "@rvss/core";
import { Bus, publishCommand, publishEvent, timerSubject, type TraceContext } from "@rvss/bus";
import { SequenceTimer } from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import type { Backups } from "./backups";
import { drainCommand, finishCommand, pendingCommand, thawCommand, type AnyCommand } from "./commands";
import { svmKey } from "./keys";
import { creationStartedEvent, setAbortedEvent, setCompletedEvent, setStartedEvent, sharesAddedEvent } from "./set-events";

export interface Decision<T = unknown> {
  server: SvmServer;
  effects: Effect[];
  hresult?: number;
  value?: T;
}

export class Engine {
  constructor(
    readonly bus: Bus,
    private readonly backups: Backups,
    private readonly timers: TimerConfig,
    private readonly log: Logger,
  ) {}

  env(): Env {
    return { now: Date.now(), newId: randomUUID, timers: this.timers };
  }

  async read(svm: string): Promise<SvmServer | null> {
    return (await this.bus.state.get<SvmServer>(svmKey(svm)))?.value ?? null;
  }

  /** Decides against the current record until the write wins, then carries out the effects. */
  async apply<D extends Decision>(svm: string, decide: (server: SvmServer, env: Env) => D, trace?: TraceContext): Promise<D> {
    const key = svmKey(svm);
    for (let attempt = 0; attempt < 100; attempt++) {
      const cur = await this.bus.state.get<SvmServer>(key);
      const base = cur?.value ?? emptyServer(svm);
      const env = this.env();
      const decided = decide(base, env);
      // Whenever the SVM is free (no context held, no set in creation), its queue moves on.
      const served = startQueuedSet(decided.server, env);
      const d = served.server === decided.server ? decided : { ...decided, server: served.server, effects: [...decided.effects, ...served.effects] };
      // A finished set is recorded in its backup before the SVM record forgets it.
      const ended: BackupRecord[] = [];
      for (const e of d.effects) {
        if (e.kind !== "finished") continue;
        const b = await this.backups.markFinished(e.entry);
        if (b) ended.push(b);
      }
      // The timer goes out before the write: a timer for a write that then loses is stale and
      // ignored when it fires, while one published after the write could be lost with this process.
      const t = d.server.timer;
      if (t && (t.generation !== base.timer?.generation || t.deadline !== base.timer?.deadline)) await this.publishTimer(d.server);
      if (d.server !== base && !(await this.bus.state.compareAndSet(key, d.server, cur?.revision ?? null))) {
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, attempt * 2)));
        continue;
      }
      await this.carryOut(d, trace);
      for (const b of ended) await this.backups.publishFinishedIfFinal(b, trace);
      return d;
    }
    throw new RvssError(ErrorCodes.CONFLICT, `the record of SVM "${svm}" kept changing; try again`, { svm });
  }

  /** Resolves with the SVM's record once `until` holds for it, or undefined after `timeoutMs`. */
  async waitFor(svm: string, until: (server: SvmServer) => boolean, timeoutMs: number): Promise<SvmServer | undefined> {
    return (await this.bus.state.waitFor<SvmServer>(svmKey(svm), (v) => v !== null && until(v), timeoutMs)) ?? undefined;
  }

  /** Publishes a command derived from the record (its ID too, so a repeat is dropped). */
  async send(c: AnyCommand | null, trace?: TraceContext): Promise<void> {
    if (!c) return;
    if (c.phase === "discovery") await publishCommand(this.bus, "discovery", c.cmd, trace);
    else if (c.phase === "executor") await publishCommand(this.bus, "executor", c.cmd, trace);
    else await publishCommand(this.bus, "notifier", c.cmd, trace);
  }

  async publishTimer(server: SvmServer): Promise<void> {
    const t = server.timer!;
    const data = SequenceTimer.encode({ svm: server.svm, generation: BigInt(t.generation), deadline: new Date(t.deadline) }).finish();
    await this.bus.publish(timerSubject(server.svm), data, { msgId: `timer:${server.svm}:${t.generation}:${t.deadline}` });
  }

  private async carryOut(d: Decision, trace?: TraceContext): Promise<void> {
    const s = d.server;
    for (const e of d.effects) {
      switch (e.kind) {
        case "command": {
          const set = findSet(s, e.setId);
          if (set) await this.send(pendingCommand(s, set), trace);
          break;
        }
        case "thaw":
          await this.send(thawCommand(s, e.setId, findSet(s, e.setId)?.backup?.backupId, e.writers), trace);
          break;
        case "drain": {
          const entry = s.draining.find((x) => x.setId === e.setId);
          if (entry) await this.send(drainCommand(s, entry), trace);
          break;
        }
        case "started": {
          const set = findSet(s, e.setId)!;
          await publishEvent(this.bus, setStartedEvent(s.svm, set), trace);
          if (set.backup) await this.backups.markStarted(set.backup, set.id);
          this.log.info({ svm: s.svm, setId: set.id, backupId: set.backup?.backupId }, "shadow copy set started");
          break;
        }
        case "added": {
          const set = findSet(s, e.setId);
          if (set) await publishEvent(this.bus, sharesAddedEvent(s.svm, set, e.shadowCopyIds), trace);
          break;
        }
        case "creationStarted": {
          const set = findSet(s, e.setId);
          if (set) await publishEvent(this.bus, creationStartedEvent(s.svm, set), trace);
          break;
        }
        case "aborted":
          await publishEvent(this.bus, setAbortedEvent(s.svm, e.setId, e.backup?.backupId, e.reason, e.code), trace);
          this.log.warn({ svm: s.svm, setId: e.setId, backupId: e.backup?.backupId, code: e.code }, `set aborted: ${e.reason}`);
          break;
        case "finished":
          await this.send(finishCommand(s.svm, e.entry), trace);
          if (e.entry.outcome === "completed" && e.entry.backup) {
            await publishEvent(this.bus, setCompletedEvent(s.svm, e.entry.setId, e.entry.backup.backupId, e.entry.snapshots), trace);
          }
          break;
      }
    }
  }
}
