import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The process's Prometheus registry; services register their own metrics on it. */
export const registry = new Registry();
// Unprefixed, so stock Node.js dashboards and alerts (process_*, nodejs_*) work as they are.
collectDefaultMetrics({ register: registry });

export const natsConnected = new Gauge({
  name: "rvss_nats_connected",
  help: "1 while the process is connected to NATS, 0 while it has lost the connection",
  registers: [registry],
});

export const stepSeconds = new Histogram({
  name: "rvss_step_duration_seconds",
  help: "Time a phase service spent on one step's command, by step (resolve, create, expose, finalize, ...)",
  labelNames: ["step"] as const,
  buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
  registers: [registry],
});

export const messagesHandled = new Counter({
  name: "rvss_messages_handled_total",
  help: "JetStream messages handled, by consumer and outcome (ack, retry, dead_letter)",
  labelNames: ["consumer", "outcome"] as const,
  registers: [registry],
});

export const handlerSeconds = new Histogram({
  name: "rvss_handler_seconds",
  help: "Time spent handling one message, by consumer",
  labelNames: ["consumer"] as const,
  buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60],
  registers: [registry],
});

export const eventsPublished = new Counter({
  name: "rvss_events_published_total",
  help: "Events published, by type",
  labelNames: ["type"] as const,
  registers: [registry],
});

export const reconcileRuns = new Counter({
  name: "rvss_reconcile_runs_total",
  help: "Reconciler runs, by outcome (ok, no_inventory when no snapshot-executor answered, error)",
  labelNames: ["outcome"] as const,
  registers: [registry],
});

export const reconcileOrphans = new Counter({
  name: "rvss_reconcile_orphans_total",
  help: "Storage found in no record and taken for removal by the reconciler, by kind (shadow_copy, exposed_share, snapshot)",
  labelNames: ["kind"] as const,
  registers: [registry],
});

export const reconcileDrainsRetried = new Counter({
  name: "rvss_reconcile_drains_retried_total",
  help: "Removals that had failed for good and were started again by the reconciler",
  registers: [registry],
});

export const scheduleTicks = new Counter({
  name: "rvss_schedule_ticks_total",
  help: "Schedule ticks decided by this replica, by schedule and outcome (fired, skipped, missed)",
  labelNames: ["schedule", "outcome"] as const,
  registers: [registry],
});

export const backupsDeleted = new Counter({
  name: "rvss_backups_deleted_total",
  help: "Backups whose snapshots are all gone, by who asked (request, collector) and schedule ('' for backups made by hand)",
  labelNames: ["by", "schedule"] as const,
  registers: [registry],
});
