/**
 * Velero-shaped backup and restore metrics per SVM, derived on each scrape from the durable
 * records (see @rvss/core outcomes): two coordinator replicas export the same values, and a restart
 * does not reset them. Also what an operator alerts on besides: work queue depth and dead letters.
 * Query with max by (svm) across replicas, never sum.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import {
  BACKUP_KEYS,
  COMMAND_STREAMS,
  COORDINATOR_EVENTS_CONSUMER,
  COORDINATOR_TIMERS_CONSUMER,
  DLQ_STREAM,
  EVENTS_STREAM,
  PHASE_CONSUMERS,
  RESTORE_KEYS,
  TIMERS_STREAM,
  backupFigures,
  backupIdOf,
  errorMessage,
  isFinal,
  restoreFigures,
  type BackupFigures,
  type Phase,
  type RestoreFigures,
  type RestoreRun,
} from "@rvss/core";
import type { Bus } from "@rvss/bus";
import { registry, type Logger } from "@rvss/runtime";
import type { StoredBackup, Backups } from "./backups";

interface Figures {
  backups: Map<string, BackupFigures>;
  restores: Map<string, RestoreFigures>;
  queues: { stream: string; consumer: string; depth: number }[];
  deadLetters: number;
}

/** The coordinator that reads the figures (one per process; null before it starts). */
let source: (() => Promise<Figures | null>) | null = null;
let read: { at: number; figures: Promise<Figures | null> } | null = null;

/** One read of the records per scrape, shared by every metric below. */
function figures(): Promise<Figures | null> {
  if (!source) return Promise.resolve(null);
  if (!read || Date.now() - read.at > 1_000) read = { at: Date.now(), figures: source() };
  return read.figures;
}

type PerSvm<F> = (f: F) => number;

/** Velero's labels: the SVM, and the schedule that made the backups ("" for the others). */
function labelsOf(x: BackupFigures): { svm: string; schedule: string } {
  return { svm: x.svm, schedule: x.schedule };
}

function backupCounter(name: string, help: string, value: PerSvm<BackupFigures>): void {
  const c: Counter<"svm" | "schedule"> = new Counter({
    name,
    help,
    labelNames: ["svm", "schedule"] as const,
    registers: [registry],
    async collect() {
      const f = await figures();
      c.reset();
      for (const x of f?.backups.values() ?? []) c.inc(labelsOf(x), value(x));
    },
  });
}

backupCounter("rvss_backup_attempt_total", "Backups that included the SVM", (x) => x.attempts);
backupCounter("rvss_backup_success_total", "Backups whose sets of the SVM all completed", (x) => x.successes);
backupCounter("rvss_backup_failure_total", "Backups whose sets of the SVM all failed", (x) => x.failures);
backupCounter(
  "rvss_backup_partial_failure_total",
  "Backups whose sets of the SVM partly failed, or completed with a writer failing under on_writer_error=continue",
  (x) => x.partialFailures,
);

const backupDuration: Histogram<"svm" | "schedule"> = new Histogram({
  name: "rvss_backup_duration_seconds",
  help: "Time from a backup's creation to its end, per SVM it included",
  labelNames: ["svm", "schedule"] as const,
  buckets: [10, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 14400],
  registers: [registry],
  async collect() {
    const f = await figures();
    backupDuration.reset();
    for (const x of f?.backups.values() ?? []) {
      backupDuration.zero(labelsOf(x));
      for (const d of x.durations) backupDuration.observe(labelsOf(x), d);
    }
  },
});

const lastSuccess: Gauge<"svm" | "schedule"> = new Gauge({
  name: "rvss_backup_last_successful_timestamp",
  help: "When a backup of the SVM last succeeded, Unix seconds",
  labelNames: ["svm", "schedule"] as const,
  registers: [registry],
  async collect() {
    const f = await figures();
    lastSuccess.reset();
    for (const x of f?.backups.values() ?? [])
      if (x.lastSuccessAt !== null) lastSuccess.set(labelsOf(x), x.lastSuccessAt / 1000);
  },
});

const lastStatus: Gauge<"svm" | "schedule"> = new Gauge({
  name: "rvss_backup_last_status",
  help: "1 when the SVM's part of its latest ended backup succeeded, 0 when it did not",
  labelNames: ["svm", "schedule"] as const,
  registers: [registry],
  async collect() {
    const f = await figures();
    lastStatus.reset();
    for (const x of f?.backups.values() ?? []) if (x.lastStatus !== null) lastStatus.set(labelsOf(x), x.lastStatus);
  },
});

function restoreCounter(name: string, help: string, value: PerSvm<RestoreFigures>): void {
  const c: Counter<"svm"> = new Counter({
    name,
    help,
    labelNames: ["svm"] as const,
    registers: [registry],
    async collect() {
      const f = await figures();
      c.reset();
      for (const [svm, x] of f?.restores ?? []) c.inc({ svm }, value(x));
    },
  });
}

restoreCounter("rvss_restore_attempt_total", "Restores requested from backups of the SVM", (x) => x.attempts);
restoreCounter("rvss_restore_success_total", "Restores that completed and verified", (x) => x.successes);
restoreCounter("rvss_restore_failed_total", "Restores that failed", (x) => x.failures);

const restoreDuration: Histogram<"svm"> = new Histogram({
  name: "rvss_restore_duration_seconds",
  help: "Time from a restore's request to its end, per SVM",
  labelNames: ["svm"] as const,
  buckets: [1, 10, 60, 300, 900, 3600, 14400],
  registers: [registry],
  async collect() {
    const f = await figures();
    restoreDuration.reset();
    for (const [svm, x] of f?.restores ?? []) {
      restoreDuration.zero({ svm });
      for (const d of x.durations) restoreDuration.observe({ svm }, d);
    }
  },
});

const queueDepth: Gauge<"stream" | "consumer"> = new Gauge({
  name: "rvss_queue_depth",
  help: "Messages waiting for a durable consumer or handed out and not yet acknowledged (pending + ack pending, as KEDA counts)",
  labelNames: ["stream", "consumer"] as const,
  registers: [registry],
  async collect() {
    const f = await figures();
    queueDepth.reset();
    for (const q of f?.queues ?? []) queueDepth.set({ stream: q.stream, consumer: q.consumer }, q.depth);
  },
});

const deadLetters: Gauge = new Gauge({
  name: "rvss_dead_letters",
  help: "Messages in the dead-letter stream (each a command or event given up, with the reason)",
  registers: [registry],
  async collect() {
    const f = await figures();
    deadLetters.reset();
    if (f) deadLetters.set(f.deadLetters);
  },
});

const CONSUMERS: { stream: string; consumer: string }[] = [
  ...(Object.keys(COMMAND_STREAMS) as Phase[]).map((p) => ({
    stream: COMMAND_STREAMS[p],
    consumer: PHASE_CONSUMERS[p],
  })),
  { stream: EVENTS_STREAM, consumer: COORDINATOR_EVENTS_CONSUMER },
  { stream: TIMERS_STREAM, consumer: COORDINATOR_TIMERS_CONSUMER },
];

/** Makes this coordinator the source of the figures; returns how to stop. */
export function serveRecordMetrics(bus: Bus, backups: Backups, log: Logger): () => void {
  // An ended backup never changes again: its record is read once.
  let ended = new Map<string, StoredBackup>();
  const readBackups = async (): Promise<StoredBackup[]> => {
    const ids = (await bus.state.keys(BACKUP_KEYS)).map(backupIdOf);
    const states = await Promise.all(ids.map(async (id) => ended.get(id) ?? (await backups.state(id))));
    const live = states.filter((s): s is StoredBackup => s !== null);
    ended = new Map(live.filter((s) => isFinal(s.status.state)).map((s) => [s.plan.id, s]));
    return live;
  };
  const read = async (): Promise<Figures | null> => {
    // Without NATS there is nothing to read: the series go absent rather than the scrape hanging.
    if (bus.connection.unready() !== null) return null;
    try {
      const [states, restores, queues, dlq] = await Promise.all([
        readBackups(),
        bus.state.list<RestoreRun>(RESTORE_KEYS),
        Promise.all(
          CONSUMERS.map(async (c) => {
            const info = await bus.jsm.consumers.info(c.stream, c.consumer);
            return { ...c, depth: info.num_pending + info.num_ack_pending };
          }),
        ),
        bus.jsm.streams.info(DLQ_STREAM),
      ]);
      return {
        backups: backupFigures(states),
        restores: restoreFigures(restores.map((r) => r.value)),
        queues,
        deadLetters: dlq.state.messages,
      };
    } catch (err) {
      log.warn({ err: errorMessage(err) }, "cannot read the records for /metrics");
      return null;
    }
  };
  source = read;
  return () => {
    if (source === read) source = null;
  };
}
