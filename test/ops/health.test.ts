/**
 * Truthful health: with nats-server killed every service turns unready (HTTP /readyz 503 with the
 * reason, gRPC health NOT_SERVING) and the coordinator answers calls UNAVAILABLE at once; when the
 * server is back, every service is ready again. Real processes, a real nats-server, real gRPC.
 */
import * as fsp from "node:fs/promises";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { RvssClient, channelCredentials, channelOptions } from "@rvss/client";
import { ErrorCodes, isRvssError } from "@rvss/core";
import {
  SERVICES,
  createSampleFiler,
  removeTree,
  startRvss,
  startSecureNats,
  testPki,
  type NatsServer,
  type RvssProcesses,
  type SampleFiler,
} from "@rvss/testkit";

let dir: string;
let nats: NatsServer;
let filer: SampleFiler;
let system: RvssProcesses;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-health-"));
  filer = await createSampleFiler(dir);
  const secure = await startSecureNats(dir);
  nats = secure.nats;
  system = await startRvss({ NATS_URL: nats.url, RVSS_FILER_CONFIG: filer.configPath }, { natsUsers: secure.users });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await nats?.dispose();
  await removeTree(dir);
});

function readyz(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/readyz" }, (res) => {
        let body = "";
        res.on("data", (b: Buffer) => (body += b.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

const HealthClient = grpc.makeGenericClientConstructor(healthService, "Health");

function grpcHealth(addr: string, name: string): Promise<string> {
  const client = new HealthClient(
    addr,
    channelCredentials(testPki().clientAuth("viewer")),
    channelOptions(addr),
  ) as unknown as {
    check(req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
    close(): void;
  };
  return new Promise((resolve, reject) =>
    client.check({ service: name }, (err, res) => {
      client.close();
      return err ? reject(err) : resolve(res.status);
    }),
  );
}

/** Polls until every service's /readyz answers `status`; returns the bodies. */
async function allReadyz(status: number): Promise<Record<string, string>> {
  for (;;) {
    const answers = await Promise.all(SERVICES.map((s) => readyz(system.services[s].healthPort)));
    if (answers.every((a) => a.status === status)) {
      return Object.fromEntries(SERVICES.map((s, i) => [s, answers[i]!.body]));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("killing nats-server turns every service unready with the reason, and ready again after it returns", async () => {
  expect(Object.values(await allReadyz(200))).toEqual(SERVICES.map(() => "ready\n"));
  expect(await grpcHealth(system.grpcAddr, "")).toBe("SERVING");

  await nats.kill();
  const bodies = await allReadyz(503);
  for (const s of SERVICES) expect(bodies[s]).toMatch(/^not ready: lost NATS at 127\.0\.0\.1:\d+ \d+ s ago/);
  for (const name of ["", "rvss.v1.BackupService", "rvss.v1.ShadowCopyAgent", "rvss.v1.PreflightService"]) {
    expect(await grpcHealth(system.grpcAddr, name)).toBe("NOT_SERVING");
  }
  // The server's own info answers from memory, so it stays served.
  expect(await grpcHealth(system.grpcAddr, "rvss.v1.ServerInfoService")).toBe("SERVING");
  // Answered with the reason, not left to run into the client's 30 s deadline (which would be TIMEOUT).
  const client = new RvssClient({ address: system.grpcAddr, auth: testPki().clientAuth() });
  const err = await client.listBackups().catch((e: unknown) => e);
  expect(isRvssError(err, ErrorCodes.NATS_UNAVAILABLE)).toBe(true);
  expect((err as Error).message).toMatch(/lost NATS at 127\.0\.0\.1:\d+/);

  await nats.restart();
  expect(Object.values(await allReadyz(200))).toEqual(SERVICES.map(() => "ready\n"));
  expect(await grpcHealth(system.grpcAddr, "rvss.v1.BackupService")).toBe("SERVING");
  expect(await client.listBackups()).toEqual([]);
  client.close();
}, 120_000);

test("a volume the executor cannot reach turns only the executor unready, naming the volume", async () => {
  const volumeDir = path.join(filer.root, filer.svm, filer.volume);
  await fsp.rename(volumeDir, `${volumeDir}.away`);
  try {
    const port = system.services["snapshot-executor"].healthPort;
    let r = await readyz(port);
    while (r.status !== 503) {
      await new Promise((res) => setTimeout(res, 200));
      r = await readyz(port);
    }
    expect(r.body).toContain(`storage (local) fails: volume "${filer.volume}" of SVM "${filer.svm}" cannot be written`);
    expect((await readyz(system.services.coordinator.healthPort)).status).toBe(200);
  } finally {
    await fsp.rename(`${volumeDir}.away`, volumeDir);
  }
  expect(Object.values(await allReadyz(200))).toEqual(SERVICES.map(() => "ready\n"));
}, 60_000);
