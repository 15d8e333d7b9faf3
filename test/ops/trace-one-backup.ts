/**
 * One CreateBackup with OpenTelemetry's in-memory exporter: starts tracing first (so gRPC is
 * instrumented as it loads), then nats-server and the four services in this process, runs one
 * backup through the gRPC client and prints every finished span as one JSON line. Run by
 * test/ops/tracing.test.ts (a process of its own: jest's module loader hides modules from the
 * instrumentation).
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { startTracing } from "@rvss/runtime";

const memory = new InMemorySpanExporter();
startTracing("rvss-trace-test", { processors: [new SimpleSpanProcessor(memory)] });

async function main(): Promise<void> {
  const fsp = await import("node:fs/promises");
  const os = await import("node:os");
  const path = await import("node:path");
  const { createLogger } = await import("@rvss/runtime");
  const { EventRecorder, createSampleFiler, removeTree, startServicesNats, testPki } = await import("@rvss/testkit");
  const { RvssClient } = await import("@rvss/client");
  const { startCoordinator } = await import("@rvss/coordinator");
  const { startShareDiscovery } = await import("@rvss/share-discovery");
  const { startSnapshotExecutor } = await import("@rvss/snapshot-executor");
  const { startAutoRecoveryNotifier } = await import("@rvss/auto-recovery-notifier");

  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-trace-"));
  const filer = await createSampleFiler(dir);
  const { nats, users, config } = await startServicesNats(filer.configPath, {}, dir);
  const log = createLogger("trace-test", config("coordinator"));
  const services = [
    await startCoordinator(config("coordinator"), log),
    await startShareDiscovery(config("share-discovery"), log),
    await startSnapshotExecutor(config("snapshot-executor"), log),
    await startAutoRecoveryNotifier(config("auto-recovery-notifier"), log),
  ];
  const coordinator = services[0] as Awaited<ReturnType<typeof startCoordinator>>;
  const events = await EventRecorder.start(nats.url, users);
  const client = new RvssClient({ address: `127.0.0.1:${coordinator.grpcPort}`, auth: testPki().clientAuth() });
  try {
    const b = await client.createBackup({ dataset: [{ svm: filer.svm, share: filer.share, files: filer.files }] });
    // The events stream, not more gRPC calls (each its own trace), says when the backup is done.
    const deadline = Date.now() + 60_000;
    const done = (): boolean =>
      events.events.some((e) => e.event.backupId === b.id && e.event.body?.$case === "backupFinished");
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // The handlers of the last events end after those events are stored.
    await new Promise((r) => setTimeout(r, 1_000));
    for (const s of memory.getFinishedSpans()) {
      process.stdout.write(
        JSON.stringify({
          name: s.name,
          kind: s.kind,
          traceId: s.spanContext().traceId,
          spanId: s.spanContext().spanId,
          parentSpanId: s.parentSpanContext?.spanId,
          client: s.attributes["messaging.client.id"],
          backupId: b.id,
        }) + "\n",
      );
    }
  } finally {
    client.close();
    await events.stop();
    for (const s of services) await s.stop();
    await nats.dispose();
    await removeTree(dir);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
