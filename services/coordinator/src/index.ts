/**
 * coordinator: owns the set and backup state machines (JetStream KV, compare-and-set) and the
 * durable FSRVP timers; serves gRPC; turns calls and completed-step events into the next command.
 * Replicas share its two durable consumers (events and timers); any replica can serve any call.
 */
import {
  applyReport,
  auditSubject,
  errorMessage,
  timerMessageDue,
  COORDINATOR_EVENTS_CONSUMER,
  COORDINATOR_TIMERS_CONSUMER,
  EVENTS_STREAM,
  TIMERS_STREAM,
} from "@rvss/core";
import { connectService, decodeEvent, startWorker } from "@rvss/bus";
import { SequenceTimer } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";
import { Backups } from "./backups";
import { shadowCopyAgent } from "./agent-service";
import { backupService, startBackup } from "./backup-service";
import { Collector } from "./collector";
import { Deletions } from "./deletion";
import { Engine } from "./engine";
import { serveRecordMetrics } from "./metrics";
import { Planner } from "./planner";
import { startGrpcServer } from "./grpc-server";
import { preflightService } from "./preflight-service";
import { serverInfoService } from "./server-info";
import { Reconciler } from "./reconciler";
import { Replay } from "./replay";
import { recordRestoreFinished } from "./restores";
import { toReport } from "./reports";
import { scheduleService } from "./schedule-service";
import { Schedules } from "./schedules";

export { Engine } from "./engine";

export interface Coordinator extends RunningService {
  /** The port gRPC listens on (useful when configured with port 0). */
  grpcPort: number;
  /** The bearer-token listener's port, when RVSS_GRPC_TOKEN_ADDR is set. */
  grpcTokenPort: number | null;
  /** The plaintext health port, when RVSS_HEALTH_GRPC_ADDR is set. */
  grpcHealthPort: number | null;
}

export async function startCoordinator(config: RvssConfig, log: Logger): Promise<Coordinator> {
  const bus = await connectService(config, "coordinator", log);
  const backups = new Backups(bus, log);
  const engine = new Engine(bus, config.timers, log);
  const planner = new Planner(bus, engine, backups, config.maxConcurrentSets, log);
  engine.onSetFinished = async (svm, entry) => {
    await backups.settleFinished(svm, entry);
    await planner.finished(entry.backup!);
  };
  const replay = new Replay(engine, backups, planner, log, config.ackWaitMs);
  const deletions = new Deletions(bus, backups, log);
  const schedules = new Schedules(
    bus,
    backups,
    (b) => startBackup({ bus, backups, planner, log }, b),
    config.scheduleCatchUpMs,
    log,
  );

  const events = startWorker(bus, {
    stream: EVENTS_STREAM,
    consumer: COORDINATOR_EVENTS_CONSUMER,
    // An event not on its body's subject (a phase reporting what is not its own) is dead-lettered.
    decode: (b, subject) => decodeEvent(subject, b),
    log,
    concurrency: config.concurrency,
    maxDeliver: config.maxDeliver,
    ackWaitMs: config.ackWaitMs,
    async handle(d) {
      const e = d.data;
      if (e.body?.$case === "restoreFinished") return recordRestoreFinished(bus, e.body.value);
      if (e.body?.$case === "snapshotsDeleted") return deletions.confirmed(e);
      if (e.body?.$case === "snapshotVerification") return backups.recordVerification(e.backupId, e.body.value);
      const report = toReport(e);
      if (!report) return;
      const out = await engine.apply(e.svm, (s, env) => applyReport(s, report, env));
      if (!out.applied) await replay.afterDuplicate(out.record, report.setId, e.backupId);
    },
  });

  const timers = startWorker(bus, {
    stream: TIMERS_STREAM,
    consumer: COORDINATOR_TIMERS_CONSUMER,
    decode: (b) => SequenceTimer.decode(b),
    log,
    concurrency: config.concurrency,
    maxDeliver: Number.POSITIVE_INFINITY,
    ackWaitMs: config.ackWaitMs,
    async handle(d) {
      // The message is only a wake-up call: the SVM's record says whether the timer still runs,
      // runs longer (wait again), or has expired.
      const out = await engine.apply(d.data.svm, (s, env) =>
        timerMessageDue(s, { messageDeadline: d.data.deadline?.getTime() ?? 0 }, env),
      );
      if (out.value) return d.defer(out.value.waitMs);
      if (out.effects.length > 0) log.warn({ svm: d.data.svm }, "FSRVP message sequence timer expired");
    },
  });

  const grpc = await startGrpcServer(
    config,
    {
      backups: backupService({
        bus,
        engine,
        backups,
        planner,
        deletions,
        log,
        limits: config.grpc,
        restoreRoots: config.restoreRoots,
      }),
      schedules: scheduleService(schedules, log),
      agent: shadowCopyAgent({ bus, engine, log }),
      preflight: preflightService({ bus, log }),
      info: serverInfoService(bus),
    },
    bus.connection,
    log,
    (r) => {
      // Never holds up the call; a record that cannot be stored is still in the log.
      void bus.js
        .publish(auditSubject(r.decision), JSON.stringify(r), { msgID: r.auditId })
        .catch((err: unknown) => log.error({ auditId: r.auditId, err: errorMessage(err) }, "audit record not stored"));
    },
  );
  const host = config.grpcAddr.slice(0, config.grpcAddr.lastIndexOf(":"));
  log.info(
    { grpc: `${host}:${grpc.port}`, auth: config.grpc.auth, tokenPort: grpc.tokenPort, healthPort: grpc.healthPort },
    "gRPC serving",
  );

  const stopMetrics = serveRecordMetrics(bus, backups, log);

  // Resume, not fail: its first run picks up what was under way when a coordinator stopped.
  const reconciler = new Reconciler(engine, backups, replay, deletions, log).start(config.reconcileIntervalMs);
  const collector = new Collector(bus, backups, deletions, log).start(config.collectorIntervalMs);
  const scheduler = schedules.start();

  return {
    grpcPort: grpc.port,
    grpcTokenPort: grpc.tokenPort,
    grpcHealthPort: grpc.healthPort,
    unready: () =>
      bus.connection.unready() ??
      (events.running() && timers.running() ? null : "the coordinator's workers have stopped"),
    async stop() {
      await grpc.stop();
      stopMetrics();
      await scheduler.stop();
      await collector.stop();
      await reconciler.stop();
      await events.stop();
      await timers.stop();
      await bus.close();
    },
  };
}
