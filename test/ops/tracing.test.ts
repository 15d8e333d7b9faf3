/**
 * One CreateBackup is one OpenTelemetry trace across all four services: the gRPC client and server
 * spans (instrumentation-grpc), then every publish and every handled message, parent to child, with
 * the W3C context carried in NATS headers. The in-memory exporter collects them in
 * test/ops/trace-one-backup.ts (built to test/dist), which runs as its own process.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { SpanKind } from "@opentelemetry/api";
import { PHASE_SERVICES } from "@rvss/core";

interface Span {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  client?: string;
}

test("one backup is one trace from the gRPC call through every service", async () => {
  const script = path.join(__dirname, "..", "dist", "ops", "trace-one-backup.js");
  const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 90_000 });
  const spans = stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Span);
  const call = spans.find((s) => s.kind === SpanKind.CLIENT && s.name === "grpc.rvss.v1.BackupService/CreateBackup")!;
  expect(call).toBeDefined();
  const trace = spans.filter((s) => s.traceId === call.traceId);
  // Nothing of the backup started a trace of its own.
  expect(trace).toHaveLength(spans.length);
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  expect(trace.filter((s) => !s.parentSpanId)).toEqual([call]);
  for (const s of trace) if (s !== call) expect(byId.has(s.parentSpanId!)).toBe(true);
  expect(trace.find((s) => s.kind === SpanKind.SERVER)).toMatchObject({
    name: "grpc.rvss.v1.BackupService/CreateBackup",
    parentSpanId: call.spanId,
  });
  // All four services took part, each publishing and handling within the one trace.
  const services = ["coordinator", ...Object.values(PHASE_SERVICES)];
  expect(new Set(trace.map((s) => s.client).filter(Boolean))).toEqual(new Set(services));
  for (const svc of services) {
    expect(trace.some((s) => s.client === svc && s.kind === SpanKind.PRODUCER)).toBe(true);
    expect(trace.some((s) => s.client === svc && s.kind === SpanKind.CONSUMER)).toBe(true);
  }
  // A command's handling is the child of its publish.
  const handled = trace.find((s) => s.name === "process RVSS_CMD_EXECUTOR/snapshot-executor")!;
  expect(byId.get(handled.parentSpanId!)!.name).toMatch(/^publish rvss\.v1\.cmd\.executor\.\*\./);
  expect(trace.map((s) => s.name)).toContain("publish rvss.v1.bkp.*.backup_finished");
}, 120_000);
