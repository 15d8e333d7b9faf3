/**
 * W3C trace context carried in NATS headers (`traceparent`), so one backup can be followed from the
 * gRPC call through every command and event. Each hop keeps the trace ID and makes a new span ID.
 */
import { randomBytes } from "node:crypto";

export interface TraceContext {
  traceId: string;
  spanId: string;
}

export function newTrace(): TraceContext {
  return { traceId: randomBytes(16).toString("hex"), spanId: randomBytes(8).toString("hex") };
}

export function childSpan(parent: TraceContext | undefined): TraceContext {
  return parent ? { traceId: parent.traceId, spanId: randomBytes(8).toString("hex") } : newTrace();
}

export function formatTraceparent(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-01`;
}

export function parseTraceparent(v: string | undefined): TraceContext | undefined {
  const m = v ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(v) : null;
  return m ? { traceId: m[1]!, spanId: m[2]! } : undefined;
}
