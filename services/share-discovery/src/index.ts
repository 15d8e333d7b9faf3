/**
 * share-discovery: resolves shares to SVM, volume and path, and checks the listed files, for the
 * sets the coordinator starts. It keeps no state; replicas share one durable consumer.
 */
import { RvssError } from "@rvss/core";
import { COMMAND_STREAMS, connectBus, PHASE_CONSUMERS, commandCodec, publishEvent, resultEvent, startWorker } from "@rvss/bus";
import { Step } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";
import { LocalBackend, type StorageBackend } from "@rvss/storage";
import { resolveShares } from "./resolve";

export { resolveShares } from "./resolve";

const SOURCE = "share-discovery";

export async function startShareDiscovery(config: RvssConfig, log: Logger, backend: StorageBackend = LocalBackend.fromFile(config.filerConfig)): Promise<RunningService> {
  const bus = await connectBus(config, SOURCE, log);
  const codec = commandCodec("discovery");
  const worker = startWorker(bus, {
    stream: COMMAND_STREAMS.discovery,
    consumer: PHASE_CONSUMERS.discovery,
    decode: (b) => codec.decode(b),
    log,
    concurrency: config.concurrency,
    maxDeliver: config.maxDeliver,
    ackWaitMs: config.ackWaitMs,
    async handle(d) {
      const cmd = d.data;
      if (cmd.kind?.$case !== "resolveShares") throw new RvssError("INVALID_ARGUMENT", `unknown discovery command ${cmd.kind?.$case ?? "(none)"}`);
      const svm = cmd.context?.svm ?? "";
      const r = await resolveShares(backend, svm, cmd.kind.value.shares);
      const body = r.ok
        ? ({ $case: "sharesResolved", value: { shares: r.shares } } as const)
        : ({ $case: "sharesRejected", value: { reason: r.reason, violations: r.violations } } as const);
      log.info({ setId: cmd.context?.setId, backupId: cmd.context?.backupId, svm, ok: r.ok }, r.ok ? "shares resolved" : `shares rejected: ${r.ok ? "" : r.reason}`);
      await publishEvent(bus, resultEvent(cmd.context, SOURCE, body), d.trace);
    },
    async onGiveUp(d, err) {
      await publishEvent(bus, resultEvent(d.data.context, SOURCE, { $case: "stepFailed", value: { step: Step.STEP_RESOLVE, reason: err.message, code: err.code } }), d.trace);
    },
  });
  return {
    ready: () => bus.connected() && worker.running(),
    async stop() {
      await worker.stop();
      await bus.close();
    },
  };
}
