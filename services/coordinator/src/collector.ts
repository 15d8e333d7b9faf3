/**
 * The retention collector, in every coordinator replica: at start and every
 * RVSS_COLLECTOR_INTERVAL_MS it takes a lease (a compare-and-set record, so one run at a time
 * across replicas), asks the core which backups expired (ttl, keep-last; never the last completed
 * backup of an SVM unless forced) and deletes them. Each deletion's BackupDeleted event says why.
 */
import { randomUUID } from "node:crypto";
import { COLLECTOR_KEY, collect, type BackupStatus, type RetainedBackup, type Verdict } from "@rvss/core";
import type { Bus } from "@rvss/bus";
import type { Logger } from "@rvss/runtime";
import type { Backups, StoredBackup } from "./backups";
import type { Deletions } from "./deletion";
import { every } from "./periodic";

/** A lease outlives a run by far; one held by a replica that died is taken over after it. */
const LEASE_MS = 5 * 60_000;

interface Lease {
  owner: string;
  until: number;
}

/** What retention needs of a backup: the SVMs whose sets completed are those holding its snapshots. */
function retained(s: StoredBackup): RetainedBackup {
  const ended: BackupStatus["ended"] = s.status.ended;
  const svms = [...new Set(s.plan.sets.filter((p) => ended[p.index] && ended[p.index] !== "failed").map((p) => p.svm))];
  return {
    id: s.plan.id,
    createdAt: s.plan.createdAt,
    state: s.status.state,
    svms,
    retention: s.plan.retention ?? {},
    ...(s.plan.expiresAt !== undefined ? { expiresAt: s.plan.expiresAt } : {}),
    schedule: s.plan.schedule ?? "",
  };
}

export class Collector {
  private readonly owner = randomUUID();

  constructor(
    private readonly bus: Bus,
    private readonly backups: Backups,
    private readonly deletions: Deletions,
    private readonly log: Logger,
  ) {}

  private async lease(take: boolean): Promise<boolean> {
    const now = Date.now();
    return this.bus.state.mutate<Lease, boolean>(COLLECTOR_KEY, (cur) => {
      const mine = cur?.value.owner === this.owner;
      if (!take) return { next: mine ? null : undefined, result: true };
      if (cur && !mine && cur.value.until > now) return { next: undefined, result: false };
      return { next: { owner: this.owner, until: now + LEASE_MS }, result: true };
    });
  }

  /** One run; null when another replica's run holds the lease. */
  async run(): Promise<Verdict[] | null> {
    if (!(await this.lease(true))) return null;
    try {
      const out = collect((await this.backups.list()).map(retained), Date.now());
      for (const v of out.expired) {
        const b = await this.backups.get(v.backupId);
        if (b) await this.deletions.request(b, { reason: `expired: ${v.reason}`, byCollector: true });
      }
      for (const k of out.kept)
        this.log.info({ backupId: k.backupId }, `collector keeps an expired backup: ${k.reason}`);
      if (out.expired.length > 0) this.log.info({ deleted: out.expired.length }, "collector deleted expired backups");
      return out.expired;
    } finally {
      await this.lease(false);
    }
  }

  /** Runs now, then every `intervalMs` (0: only now) until stopped. */
  start(intervalMs: number): { stop(): Promise<void> } {
    return every(intervalMs, "collector run", this.log, () => this.run());
  }
}
