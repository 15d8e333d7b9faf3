/**
 * The whole system with NATS least privilege: a nats-server whose only users are rvss's identities
 * and one writer's, the provisioner making streams and buckets, then the four services as
 * processes, each connected as itself, the SQLite reference writer as writer-sqlite, mTLS on gRPC.
 * A managed backup with the writer's checkpoint and a restore go through, and the server logged no
 * permission violation (a missing permission would show there first).
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { AgentClient, RvssClient } from "@rvss/client";
import { writerIdentity } from "@rvss/core";
import { BackupState } from "@rvss/proto";
import { parseCheckpoint } from "@rvss/sqlite-writer";
import {
  NatsServer,
  compareTrees,
  createNatsUsers,
  createSampleFiler,
  removeTree,
  startRvss,
  startSqliteWriterProcess,
  type RvssProcesses,
  type SampleFiler,
  type SqliteWriterProcess,
} from "@rvss/testkit";

const DBS = ["sqlvm/orders.sqlite"];

let dir: string;
let nats: NatsServer;
let rvss: RvssProcesses;
let writer: SqliteWriterProcess;
let client: RvssClient;
let filer: SampleFiler;
let backupId = "";

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sec-sys-"));
  filer = await createSampleFiler(dir);
  const users = createNatsUsers(path.join(dir, "users"), ["sqlite"]);
  nats = await NatsServer.start({ config: users.config });
  rvss = await startRvss({ NATS_URL: nats.url, RVSS_FILER_CONFIG: filer.configPath }, { natsUsers: users });
  writer = await startSqliteWriterProcess({
    natsUrl: nats.url,
    svm: "vs1",
    share: "share1",
    dir: filer.shareDir,
    databases: DBS,
    writerId: "sqlite",
    env: users.env(writerIdentity("sqlite")),
  });
  client = new RvssClient({ address: rvss.grpcAddr, auth: rvss.pki!.clientAuth() });
});

afterAll(async () => {
  client?.close();
  await writer?.stop();
  await rvss?.stop();
  await nats?.dispose();
  await removeTree(dir);
});

test("a managed backup with its writer and a restore run with every process as its own NATS identity", async () => {
  const created = await client.createBackup({
    dataset: [{ svm: "vs1", share: "share1", files: [...filer.files, ...DBS] }],
  });
  let b = created;
  for (const deadline = Date.now() + 60_000; b.state === BackupState.BACKUP_STATE_RUNNING && Date.now() < deadline;)
    b = await new Promise((r) => setTimeout(r, 200)).then(() => client.getBackup(created.id));
  expect(b.state).toBe(BackupState.BACKUP_STATE_COMPLETED);
  const checkpoint = b.sets[0]!.writerSteps.find((w) => w.step === "checkpoint");
  expect(checkpoint?.report).toMatchObject({ ok: true, writerId: "sqlite" });
  expect(parseCheckpoint(checkpoint!.report!.detail)[DBS[0]!]).toBeGreaterThan(0);
  const target = path.join(dir, "restore");
  await client.restore({ backupId: b.id, target: { kind: { $case: "directory", value: target } } });
  expect(await compareTrees(filer.shareDir, target, filer.files)).toEqual([]);
  expect(nats.log()).not.toMatch(/Violation/);
  backupId = b.id;
});

test("a requestor's set goes through the agent API, whose calls wait for the set's events on NATS", async () => {
  const agent = new AgentClient(rvss.grpcAddr, "vs1", rvss.pki!.clientAuth("backup-operator"));
  const share = "\\\\vs1\\share1";
  try {
    await agent.setContext(0);
    const { shadowCopySetId: setId } = await agent.startShadowCopySet("c1c1c1c1-0000-4000-8000-000000000013");
    const { shadowCopyId } = await agent.addToShadowCopySet(setId, share);
    await agent.prepareShadowCopySet(setId);
    await agent.commitShadowCopySet(setId, 20_000);
    await agent.exposeShadowCopySet(setId, 20_000);
    await agent.recoveryCompleteShadowCopySet(setId);
    await agent.deleteShareMapping(setId, shadowCopyId, share);
  } finally {
    agent.close();
  }
  expect(nats.log()).not.toMatch(/Violation/);
});

test("a restore outside the restore roots is refused before anything is asked of the executor", async () => {
  for (const to of ["/etc/rvss-restore", "/root/.ssh-rvss"]) {
    const e = await client.restore({ backupId, target: { kind: { $case: "directory", value: to } } }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toMatchObject({ code: "PERMISSION_DENIED", message: expect.stringMatching(/outside the restore roots/) });
  }
});

test("a directory under a root that is a link out of it is refused by the executor", async () => {
  // The roots are the temporary directory; the link leads to /var/lib, outside them.
  const link = path.join(dir, "link-out");
  await fsp.symlink("/var/lib", link);
  const e = await client
    .restore({ backupId, target: { kind: { $case: "directory", value: path.join(link, "r") } } })
    .then(
      () => null,
      (err: unknown) => err,
    );
  expect(e).toMatchObject({ code: "PERMISSION_DENIED", message: expect.stringMatching(/outside the restore roots/) });
  await expect(fsp.stat("/var/lib/r")).rejects.toThrow(/ENOENT/);
});
