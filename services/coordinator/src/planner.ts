/**
 * The planner in service: the global plan (one KV record, compare-and-set) releases planned sets
 * to their SVMs' queues, at most RVSS_MAX_CONCURRENT_SETS at once, round-robin across backups.
 */
import {
  admitBackup,
  emptyPlanner,
  enqueueManagedSet,
  finishSet,
  isAdmitted,
  isReleased,
  mapLimit,
  releaseSets,
  withdrawBackup,
  type BackupLink,
  type BackupPlan,
  type PlannerState,
  PLANNER_KEY,
} from "@rvss/core";
import type { Bus } from "@rvss/bus";
import type { Logger } from "@rvss/runtime";
import type { Backups } from "./backups";
import { liveSetOf } from "./convert";
import type { Engine } from "./engine";

export class Planner {
  constructor(
    private readonly bus: Bus,
    private readonly engine: Engine,
    private readonly backups: Backups,
    private readonly limit: number,
    private readonly log: Logger,
  ) {}

  async state(): Promise<PlannerState> {
    return (await this.bus.state.get<PlannerState>(PLANNER_KEY))?.value ?? emptyPlanner();
  }

  /** Changes the plan and releases what fits under the limit; returns what was released. */
  private async change(fn: (p: PlannerState) => PlannerState): Promise<BackupLink[]> {
    return this.bus.state.mutate<PlannerState, BackupLink[]>(PLANNER_KEY, (cur) => {
      const base = cur?.value ?? emptyPlanner();
      const { state, released } = releaseSets(fn(base), this.limit);
      return { next: state === base ? undefined : state, result: released };
    });
  }

  /** A new backup joins the plan; what fits runs at once. */
  async admit(b: BackupPlan): Promise<void> {
    await this.enqueue(await this.change((p) => admitBackup(p, b.id, b.sets.length)));
  }

  /** A released set ended: its slot goes to the next set in turn. */
  async finished(link: BackupLink): Promise<void> {
    await this.enqueue(await this.change((p) => finishSet(p, link)));
  }

  /** A cancelled backup releases nothing more; returns the plan indexes it never released. */
  async withdraw(backupId: string): Promise<number[]> {
    return this.bus.state.mutate<PlannerState, number[]>(PLANNER_KEY, (cur) => {
      const { state, withdrawn } = withdrawBackup(cur?.value ?? emptyPlanner(), backupId);
      return { next: withdrawn.length > 0 ? state : undefined, result: withdrawn };
    });
  }

  private async enqueue(released: BackupLink[]): Promise<void> {
    // Released sets are on different SVMs as a rule (plans interleave SVMs), so they go out together.
    await mapLimit(released, 16, async (link) => {
      const b = await this.backups.plan(link.backupId);
      if (!b) return;
      const p = b.sets[link.index]!;
      await this.engine.apply(p.svm, (s, env) =>
        enqueueManagedSet(s, { backup: link, shares: p.shares, onWriterError: b.onWriterError }, env),
      );
    });
    if (released.length > 0) this.log.debug({ released: released.length }, "planner released sets");
  }

  /**
   * After a restart, and in the reconciler's sweep (so while work goes on): a backup the plan never
   * saw joins it; released sets that never reached their SVM are queued again; slots held by sets
   * that already ended are given back. Reads come in the order that makes a race harmless: the plan
   * before a backup's status, an SVM's record before the set's status (a set is recorded as ended
   * before its SVM's record lets it go).
   */
  async resume(running: BackupPlan[]): Promise<{ requeued: number }> {
    let requeued = 0;
    const p = await this.state();
    for (const b of running) {
      if (!isAdmitted(p, b.id)) {
        // Only a backup whose CreateBackup stopped between storing it and admitting it: no set ended.
        const status = await this.backups.status(b.id);
        if (status?.state === "Running" && Object.keys(status.ended).length === 0) await this.admit(b);
        continue;
      }
      for (const s of b.sets) {
        const link = { backupId: b.id, index: s.index };
        if (!isReleased(p, link)) continue;
        const live = liveSetOf(await this.engine.read(s.svm), b.id, s.index);
        if (live.set || live.removing || live.queuePosition > 0) continue;
        if ((await this.backups.status(b.id))?.ended[s.index] !== undefined) {
          await this.finished(link);
        } else {
          await this.enqueue([link]);
          requeued++;
        }
      }
    }
    return { requeued };
  }
}
