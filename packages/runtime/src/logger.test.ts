import { Writable } from "node:stream";
import { trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-node";
import { createLogger } from "./logger";
import { startTracing } from "./tracing";

function capture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

beforeAll(() => {
  startTracing("logger-test", { processors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
});

test("JSON lines carry the level's name, the service, and the trace of the work at hand", () => {
  const { lines, stream } = capture();
  const log = createLogger("coordinator", { logLevel: "info", logFormat: "json" }, stream);
  log.info("outside any span");
  let traceId = "";
  trace.getTracer("test").startActiveSpan("work", (span) => {
    traceId = span.spanContext().traceId;
    log.child({ backupId: "b1" }).warn("inside");
    span.end();
  });
  expect(lines.map(({ level, service, msg, traceId: t }) => ({ level, service, msg, traceId: t }))).toEqual([
    { level: "info", service: "coordinator", msg: "outside any span", traceId: undefined },
    { level: "warn", service: "coordinator", msg: "inside", traceId },
  ]);
  expect(lines[0]).not.toHaveProperty("name");
});
