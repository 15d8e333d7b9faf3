/**
 * Strict clients accept rvss's reflection: Python's descriptor pool (Debian python3-grpcio and
 * python3-protobuf) is built from the files reflection serves, with their imports, and a method is
 * called through it. @grpc/reflection's merged file without dependencies failed exactly here.
 */
import { execFile } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { RvssClient } from "@rvss/client";
import { BackupState } from "@rvss/proto";
import {
  createSampleFiler,
  removeTree,
  startRvss,
  startSecureNats,
  testPki,
  type NatsServer,
  type RvssProcesses,
  type SampleFiler,
} from "@rvss/testkit";

const run = promisify(execFile);
const root = path.join(__dirname, "..", "..");

let dir: string;
let nats: NatsServer;
let filer: SampleFiler;
let system: RvssProcesses;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-reflection-"));
  filer = await createSampleFiler(dir);
  const secure = await startSecureNats(dir);
  nats = secure.nats;
  system = await startRvss({ NATS_URL: nats.url, RVSS_FILER_CONFIG: filer.configPath }, { natsUsers: secure.users });
}, 60_000);

afterAll(async () => {
  await system?.stop();
  await nats?.dispose();
  await removeTree(dir);
});

test("Python builds a descriptor pool from reflection and calls ListBackups dynamically", async () => {
  const grpcAddr = system.grpcAddr;
  const client = new RvssClient({ address: grpcAddr, auth: testPki().clientAuth() });
  const b = await client.createBackup({ dataset: [{ svm: filer.svm, share: filer.share, files: filer.files }] });
  while ((await client.getBackup(b.id)).state === BackupState.BACKUP_STATE_RUNNING) {
    await new Promise((r) => setTimeout(r, 50));
  }
  client.close();
  // The reflection protocol's own descriptors, built from the .proto files @grpc/reflection ships.
  const protoDir = path.join(path.dirname(require.resolve("@grpc/reflection/package.json")), "build", "proto");
  const protocol = path.join(dir, "reflection.binpb");
  await run(
    "npx",
    ["buf", "build", protoDir, "--path", path.join(protoDir, "grpc/reflection/v1/reflection.proto"), "-o", protocol],
    {
      cwd: root,
    },
  );
  const { stdout } = await run("/usr/bin/python3", [
    path.join(__dirname, "strict_reflection_client.py"),
    grpcAddr,
    protocol,
    testPki().ca,
    testPki().clients.viewer.cert,
    testPki().clients.viewer.key,
  ]);
  const out = JSON.parse(stdout) as { services: string[]; methods: string[]; files: string[]; listBackups: unknown };
  expect(out.services).toEqual([
    "rvss.v1.BackupService",
    "rvss.v1.PreflightService",
    "rvss.v1.ScheduleService",
    "rvss.v1.ServerInfoService",
    "rvss.v1.ShadowCopyAgent",
  ]);
  expect(out.methods).toContain("rvss.v1.ScheduleService/CreateSchedule");
  expect(out.methods).toContain("rvss.v1.BackupService/CreateBackup");
  expect(out.methods).toContain("rvss.v1.ShadowCopyAgent/StartShadowCopySet");
  expect(out.files).toContain("google/protobuf/timestamp.proto");
  expect(out.files).toContain("rvss/v1/common.proto");
  // The dynamic call answers what the typed client sees.
  expect(out.listBackups).toEqual({
    backups: [
      expect.objectContaining({
        id: b.id,
        state: "BACKUP_STATE_COMPLETED",
        progress: expect.objectContaining({ snapshotsTaken: 1 }),
      }),
    ],
  });
}, 60_000);
