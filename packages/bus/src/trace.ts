/**
 * OpenTelemetry spans for publishing and handling NATS messages, with the W3C trace context
 * (`traceparent`) injected into and extracted from NATS headers: there is no maintained NATS
 * instrumentation for JavaScript (opentelemetry-js-contrib#753). The stored message keeps its
 * traceparent, so a redelivery continues the trace of its publisher.
 */
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";
import type { MsgHdrs } from "@nats-io/transport-node";
import { errorMessage, subjectTemplate } from "@rvss/core";

const tracer = trace.getTracer("rvss");

const setter: TextMapSetter<MsgHdrs> = { set: (h, k, v) => h.set(k, v) };
const getter: TextMapGetter<MsgHdrs> = {
  get: (h, k) => h.get(k) || undefined,
  keys: (h) => h.keys(),
};

async function inSpan<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(context.active(), span), fn);
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
    throw err;
  } finally {
    span.end();
  }
}

/** Publishes in a PRODUCER span that is the parent of whoever handles the message. */
export function tracedPublish<T>(
  subject: string,
  msgId: string,
  client: string,
  headers: MsgHdrs,
  publish: () => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(`publish ${subjectTemplate(subject)}`, {
    kind: SpanKind.PRODUCER,
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": "send",
      "messaging.destination.name": subject,
      "messaging.message.id": msgId,
      "messaging.client.id": client,
    },
  });
  propagation.inject(trace.setSpan(context.active(), span), headers, setter);
  return inSpan(span, publish);
}

/** Handles a message in a CONSUMER span continuing the trace its headers carry (a new one if none). */
export function tracedProcess<T>(
  m: { subject: string; headers?: MsgHdrs; msgId?: string },
  stream: string,
  consumer: string,
  client: string,
  handle: () => Promise<T>,
): Promise<T> {
  const parent = m.headers ? propagation.extract(ROOT_CONTEXT, m.headers, getter) : ROOT_CONTEXT;
  const span = tracer.startSpan(
    `process ${stream}/${consumer}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": m.subject,
        "messaging.consumer.group.name": consumer,
        "messaging.client.id": client,
        ...(m.msgId ? { "messaging.message.id": m.msgId } : {}),
      },
    },
    parent,
  );
  return context.with(parent, () => inSpan(span, handle));
}
