/**
 * The services as processes export their spans where OTEL_* says: OTLP/HTTP (JSON) to a receiver
 * in this test, which plays the collector. One backup's spans, from all four services (each its own
 * service.name), share one trace ID; the coordinator's gRPC server span shows gRPC was instrumented.
 */
import * as fsp from "node:fs/promises";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { RvssClient } from "@rvss/client";
import { PHASE_SERVICES } from "@rvss/core";
import { BackupState } from "@rvss/proto";
import {
  createSampleFiler,
  freePort,
  removeTree,
  startRvss,
  startSecureNats,
  testPki,
  type NatsServer,
  type RvssProcesses,
} from "@rvss/testkit";

interface ExportedSpan {
  service: string;
  name: string;
  traceId: string;
}

let dir: string;
let nats: NatsServer;
let system: RvssProcesses;
let receiver: http.Server;
const received: ExportedSpan[] = [];

type OtlpJson = {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: { name: string; traceId: string }[] }[];
  }[];
};

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-otlp-"));
  const filer = await createSampleFiler(dir);
  const port = await freePort();
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (b: Buffer) => (body += b.toString()));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        for (const rs of (JSON.parse(body) as OtlpJson).resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans) received.push({ service, name: s.name, traceId: s.traceId });
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => receiver.listen(port, "127.0.0.1", () => r()));
  const secure = await startSecureNats(dir);
  nats = secure.nats;
  system = await startRvss(
    {
      NATS_URL: nats.url,
      RVSS_FILER_CONFIG: filer.configPath,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
    },
    { natsUsers: secure.users },
  );
  const client = new RvssClient({ address: system.grpcAddr, auth: testPki().clientAuth() });
  const b = await client.createBackup({ dataset: [{ svm: filer.svm, share: filer.share, files: filer.files }] });
  while ((await client.getBackup(b.id)).state === BackupState.BACKUP_STATE_RUNNING) {
    await new Promise((r) => setTimeout(r, 50));
  }
  client.close();
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await nats?.dispose();
  await new Promise((r) => receiver?.close(r));
  await removeTree(dir);
});

test("each service exports its spans over OTLP, and one backup is one trace across them", async () => {
  const services = ["coordinator", ...Object.values(PHASE_SERVICES)];
  const server = (): ExportedSpan | undefined =>
    received.find((s) => s.service === "coordinator" && s.name === "grpc.rvss.v1.BackupService/CreateBackup");
  // Each process sends its batches on its own schedule: wait for the backup's last spans.
  const last = ["process RVSS_CMD_EXECUTOR/snapshot-executor", "publish rvss.v1.bkp.*.backup_finished"];
  const ofTrace = (): ExportedSpan[] => received.filter((s) => s.traceId === server()?.traceId);
  const arrived = (): boolean =>
    last.every((name) => ofTrace().some((s) => s.name === name)) &&
    services.every((svc) => ofTrace().some((s) => s.service === svc));
  // A service whose spans went into a trace of their own never arrives here, and the test times out.
  while (!arrived()) await new Promise((r) => setTimeout(r, 100));
  expect(new Set(ofTrace().map((s) => s.service))).toEqual(new Set(services));
}, 60_000);
