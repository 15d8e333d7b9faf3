/**
 * The reconciler runs in every coordinator replica, at start and every RVSS_RECONCILE_INTERVAL_MS:
 *   1. the sweep: everything durable state says is under way is published again (replay.ts), so
 *      work a dead replica left between a write and its publishes goes on without a restart;
 *      unfinished backup deletions too (deletion.ts);
 *   2. removals that failed for good are started again (a new attempt, so a new command ID);
 *   3. what the storage holds (asked of the snapshot-executor) is compared with durable state, and
 *      orphans are taken into the SVM's record as a pending removal, so they are removed and the
 *      removal confirmed like any aborted set's storage.
 * What it did is published as ReconcileFinished on rvss.v1.sys.<svm>.reconcile_finished, logged and
 * counted. Every step is idempotent and compare-and-set, so replicas running it at once do no harm.
 */
import { randomUUID } from "node:crypto";
import {
  ErrorCodes,
  svmRecordFrom,
  adoptOrphans,
  findOrphans,
  isRvssError,
  knownSnapshots,
  noOrphans,
  parseSnapshotName,
  retryFailedRemovals,
  type Orphans,
  type SvmRecord,
  SVM_KEYS,
  reconcileEventId,
} from "@rvss/core";
import { publishEvent, storageInventory, type Bus } from "@rvss/bus";
import type { SvmInventory } from "@rvss/proto";
import { reconcileDrainsRetried, reconcileOrphans, reconcileRuns, type Logger } from "@rvss/runtime";
import type { Backups } from "./backups";
import type { Deletions } from "./deletion";
import type { Engine } from "./engine";
import { every } from "./periodic";
import type { Replay } from "./replay";

export interface SvmReconciled {
  svm: string;
  orphans: Orphans;
  /** The pending removal that removes the orphans ("" when there were none). */
  drainSetId: string;
  drainsRetried: number;
}

export class Reconciler {
  private readonly bus: Bus;
  /** Whether a sweep ran already (the first one, at start, resumes what a stopped coordinator left). */
  private swept = false;

  constructor(
    private readonly engine: Engine,
    private readonly backups: Backups,
    private readonly replay: Replay,
    private readonly deletions: Deletions,
    private readonly log: Logger,
  ) {
    this.bus = engine.bus;
  }

  /** One run over every SVM; returns the SVMs where it found something to do. */
  async run(): Promise<SvmReconciled[]> {
    const swept = { ...(await this.replay.sweep()), deletions: await this.deletions.resume() };
    if (!this.swept && (swept.svms > 0 || swept.requeued > 0 || swept.deletions > 0))
      this.log.info(swept, "resumed in-flight work");
    this.swept = true;
    const retried = new Map<string, number>();
    // Read before the storage is listed: what these knew is no orphan in this run (findOrphans).
    const before = new Map<string, SvmRecord>();
    for (const { value } of await this.bus.state.list<SvmRecord>(SVM_KEYS)) {
      const s = svmRecordFrom(value);
      before.set(s.svm, s);
      if (!s.removals.some((d) => d.failure)) continue;
      const n = (await this.engine.apply(s.svm, (cur, env) => retryFailedRemovals(cur, env))).value ?? 0;
      if (n > 0) retried.set(s.svm, n);
    }
    let inventory: SvmInventory[] = [];
    try {
      inventory = (await storageInventory(this.bus, { svms: [] })).svms;
    } catch (err) {
      if (!isRvssError(err, ErrorCodes.UNAVAILABLE)) throw err;
      this.log.debug("no snapshot-executor answered; storage not compared this time");
      reconcileRuns.inc({ outcome: "no_inventory" });
    }
    const out: SvmReconciled[] = [];
    const runId = randomUUID();
    for (const svm of new Set([...inventory.map((i) => i.svm), ...retried.keys()])) {
      const found = inventory.find((i) => i.svm === svm);
      const adopted = found ? await this.takeOrphans(found, before.get(svm) ?? null) : null;
      const r: SvmReconciled = {
        svm,
        orphans: adopted?.adopted ?? { shadowCopies: [], exposedShares: [], snapshots: [] },
        drainSetId: adopted?.drainSetId ?? "",
        drainsRetried: retried.get(svm) ?? 0,
      };
      if (noOrphans(r.orphans) && r.drainsRetried === 0) continue;
      await this.report(runId, r);
      out.push(r);
    }
    if (inventory.length > 0) reconcileRuns.inc({ outcome: "ok" });
    return out;
  }

  /**
   * Finds an SVM's orphans and takes them into its record (checked again there); null when none.
   * `before`: the SVM's record as read before the storage was listed.
   */
  private async takeOrphans(
    inv: SvmInventory,
    before: SvmRecord | null,
  ): Promise<{ drainSetId: string; adopted: Orphans } | null> {
    // The storage was listed first, the SVM record is read now, the backups after it (see core's reconcile.ts).
    const server = await this.engine.read(inv.svm);
    const known = knownSnapshots(server);
    const listed = new Set<string>();
    for (const backupId of new Set(
      inv.snapshots.filter((x) => !known.has(x.name)).map((x) => parseSnapshotName(x.name)?.backupId ?? ""),
    )) {
      const b = backupId ? await this.backups.get(backupId) : null;
      for (const p of b?.sets ?? []) for (const x of p.snapshots) listed.add(x.name);
    }
    const orphans = findOrphans(
      { shadowCopies: inv.shadowCopies, exposedShares: inv.exposedShares, snapshots: inv.snapshots },
      server,
      listed,
      before,
    );
    if (noOrphans(orphans)) return null;
    return (await this.engine.apply(inv.svm, (cur, env) => adoptOrphans(cur, orphans, env))).value ?? null;
  }

  private async report(runId: string, r: SvmReconciled): Promise<void> {
    const o = r.orphans;
    reconcileOrphans.inc({ kind: "shadow_copy" }, o.shadowCopies.length);
    reconcileOrphans.inc({ kind: "exposed_share" }, o.exposedShares.length);
    reconcileOrphans.inc({ kind: "snapshot" }, o.snapshots.length);
    reconcileDrainsRetried.inc(r.drainsRetried);
    const counts = {
      shadowCopies: o.shadowCopies.length,
      exposedShares: o.exposedShares.length,
      snapshots: o.snapshots.length,
      drainsRetried: r.drainsRetried,
    };
    this.log.warn(
      { svm: r.svm, ...counts, drainSetId: r.drainSetId || undefined },
      "reconciler: removing storage no record knows / retrying failed removals",
    );
    await publishEvent(this.bus, {
      eventId: reconcileEventId(runId, r.svm),
      time: new Date(),
      svm: r.svm,
      setId: "",
      backupId: "",
      source: "coordinator",
      body: {
        $case: "reconcileFinished",
        value: {
          orphanShadowCopies: o.shadowCopies.map((c) => c.shadowCopyId),
          orphanExposedShares: o.exposedShares,
          orphanSnapshots: o.snapshots.map((x) => x.name),
          drainSetId: r.drainSetId,
          drainsRetried: r.drainsRetried,
        },
      },
    });
  }

  /** Runs now, then every `intervalMs` (0: only now) until stopped; a failed run is logged and the next one comes. */
  start(intervalMs: number): { stop(): Promise<void> } {
    return every(intervalMs, "reconciler run", this.log, () =>
      this.run().catch((err: unknown) => {
        reconcileRuns.inc({ outcome: "error" });
        throw err;
      }),
    );
  }
}
