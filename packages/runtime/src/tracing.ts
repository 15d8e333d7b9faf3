/**
 * OpenTelemetry for one process: a tracer provider with W3C context propagation and gRPC
 * instrumentation, exporting where the standard OTEL_* variables say. Without them tracing is off
 * and costs nothing (the context manager alone took a quarter of the throughput benchmark); with
 * them every log line and NATS message carries the trace of the backup it belongs to. Start it
 * before @grpc/grpc-js is first loaded: the instrumentation patches the module as it loads.
 */
import { diag, DiagLogLevel } from "@opentelemetry/api";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { GrpcInstrumentation } from "@opentelemetry/instrumentation-grpc";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-node";
import { OTLPTraceExporter as OtlpProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { ErrorCodes, RvssError } from "@rvss/core";

type Env = Record<string, string | undefined>;

export interface Tracing {
  /** What the process sends its spans to, for the start-up log ("none" when nothing). */
  exporter: string;
  /** Sends what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** The exporter the OTEL_* variables ask for, or null: OTLP once an endpoint is set, console, or none. */
function exporterFromEnv(env: Env): { name: string; exporter: SpanExporter } | null {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const kind = env.OTEL_TRACES_EXPORTER || (endpoint ? "otlp" : "none");
  if (kind === "none") return null;
  if (kind === "console") return { name: "console", exporter: new ConsoleSpanExporter() };
  if (kind !== "otlp") {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `OTEL_TRACES_EXPORTER="${kind}" is not otlp, console or none`, {
      variable: "OTEL_TRACES_EXPORTER",
    });
  }
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || "http/protobuf";
  // The exporters read the endpoint, headers, timeout and compression from the same variables.
  if (protocol === "http/protobuf")
    return { name: `otlp ${protocol} ${endpoint ?? "(default)"}`, exporter: new OtlpProtoExporter() };
  if (protocol === "http/json")
    return { name: `otlp ${protocol} ${endpoint ?? "(default)"}`, exporter: new OtlpJsonExporter() };
  throw new RvssError(
    ErrorCodes.CONFIG_INVALID,
    `OTEL_EXPORTER_OTLP_PROTOCOL="${protocol}" is not supported (use http/protobuf or http/json)`,
    { variable: "OTEL_EXPORTER_OTLP_PROTOCOL" },
  );
}

/**
 * Registers the process's tracer provider when the environment names an exporter, or `processors`
 * are given (tests pass an in-memory one). OTEL_SDK_DISABLED=true registers nothing.
 */
export function startTracing(service: string, o: { env?: Env; processors?: SpanProcessor[] } = {}): Tracing {
  const env = o.env ?? process.env;
  if (env.OTEL_SDK_DISABLED === "true") return { exporter: "none (OTEL_SDK_DISABLED)", shutdown: async () => {} };
  const chosen = o.processors ? null : exporterFromEnv(env);
  const processors = o.processors ?? (chosen ? [new BatchSpanProcessor(chosen.exporter)] : null);
  if (!processors) return { exporter: "none", shutdown: async () => {} };
  diag.setLogger(
    {
      error: (m) => process.stderr.write(`otel: ${m}\n`),
      warn: () => {},
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.ERROR,
  );
  const provider = new NodeTracerProvider({
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the service's own name.
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: service }).merge(
      detectResources({ detectors: [envDetector] }),
    ),
    spanProcessors: processors,
  });
  provider.register();
  registerInstrumentations({ tracerProvider: provider, instrumentations: [new GrpcInstrumentation()] });
  return {
    exporter: chosen?.name ?? "given",
    shutdown: () => provider.shutdown(),
  };
}
