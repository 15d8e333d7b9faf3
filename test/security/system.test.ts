/**
 * The whole system with NATS least privilege: a nats-server (TLS) whose only users are rvss's
 * identities, one writer's and the tests' own, the provisioner making streams and buckets, then the
 * four services as processes, each connected as itself, the SQLite reference writer as
 * writer-sqlite, mTLS on gRPC.
 * A managed backup with the writer's checkpoint and a restore go through, and the server logged no
 * permission violation (a missing permission would show there first).
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { AgentClient, RvssClient } from "@rvss/client";
import { setEventSubject, stepFailedType, svmKey, writerIdentity, type NatsIdentity } from "@rvss/core";
import { eventSubject, listDeadLetters, type Bus } from "@rvss/bus";
import { BackupState, Event, Step, type Backup } from "@rvss/proto";
import { parseCheckpoint } from "@rvss/sqlite-writer";
import {
  compareTrees,
  connectAs,
  createSampleFiler,
  removeTree,
  startRvss,
  startSecureNats,
  startSqliteWriterProcess,
  type NatsServer,
  type NatsUsers,
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
let users: NatsUsers;
let backupId = "";
const buses: Bus[] = [];

/** A connection as one of rvss's NATS identities, closed at the end. */
async function as(identity: NatsIdentity): Promise<Bus> {
  const bus = await connectAs(users, nats.url, identity);
  buses.push(bus);
  return bus;
}

async function untilEnded(id: string, ms = 60_000): Promise<Backup> {
  let b = await client.getBackup(id);
  for (const deadline = Date.now() + ms; b.state === BackupState.BACKUP_STATE_RUNNING && Date.now() < deadline;)
    b = await new Promise((r) => setTimeout(r, 200)).then(() => client.getBackup(id));
  return b;
}

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sec-sys-"));
  filer = await createSampleFiler(dir);
  ({ nats, users } = await startSecureNats(dir, ["sqlite"]));
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
  for (const b of buses) await b.close();
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
  const b = await untilEnded(created.id);
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

test("the executor's identity cannot fail a share-discovery step: refused by NATS or by the coordinator", async () => {
  // Share-discovery frozen: the set waits for its resolve step while the forger reports it failed.
  rvss.services["share-discovery"].pause();
  try {
    const created = await client.createBackup({
      dataset: [{ svm: "vs1", share: "share1", files: [...filer.files, ...DBS] }],
    });
    let setId = "";
    for (const deadline = Date.now() + 20_000; !setId && Date.now() < deadline;)
      setId = await new Promise((r) => setTimeout(r, 100)).then(
        async () => (await client.getBackup(created.id)).sets[0]?.setId ?? "",
      );
    expect(setId).not.toBe("");
    const forged: Event = {
      eventId: `${setId}:resolve:1/stepFailed`,
      time: new Date(),
      svm: "vs1",
      setId,
      backupId: created.id,
      source: "share-discovery",
      body: { $case: "stepFailed", value: { step: Step.STEP_RESOLVE, reason: "forged", code: "STORAGE_FAILED" } },
    };
    const data = Event.encode(forged).finish();
    const own = eventSubject(forged);
    expect(own).toBe(setEventSubject("vs1", setId, stepFailedType("discovery")));
    const exec = await as("snapshot-executor");
    await expect(exec.js.publish(own, data, { msgID: "forged-own" })).rejects.toThrow(/Permissions Violation/);
    // Subjects the executor may publish on: stored, but not taken as the body's.
    const dlq = await as("coordinator");
    const before = (await listDeadLetters(dlq, 0)).total;
    const allowed = [
      setEventSubject("vs1", setId, stepFailedType("executor")),
      setEventSubject("vs1", setId, "shadowCopiesCreated"),
    ];
    for (const [i, subject] of allowed.entries()) await exec.js.publish(subject, data, { msgID: `forged-${i}` });
    let letters = (await listDeadLetters(dlq, 10)).letters;
    for (const deadline = Date.now() + 20_000; letters.length < before + 2 && Date.now() < deadline;)
      letters = await new Promise((r) => setTimeout(r, 200)).then(async () => (await listDeadLetters(dlq, 10)).letters);
    expect(
      letters
        .slice(-2)
        .map((l) => l.reason)
        .sort(),
    ).toEqual(
      allowed.map((s) => `cannot decode: refused: a stepFailed event on ${s}, where only ${own} may carry it`).sort(),
    );
    rvss.services["share-discovery"].resume();
    const b = await untilEnded(created.id);
    expect([b.state, b.reason]).toEqual([BackupState.BACKUP_STATE_COMPLETED, ""]);
  } finally {
    rvss.services["share-discovery"].resume();
  }
});

test("a backup naming an SVM the filer does not know fails, naming it, and leaves no record of that SVM", async () => {
  const created = await client.createBackup({ dataset: [{ svm: "vs-ghost", share: "share1", files: [] }] });
  const b = await untilEnded(created.id);
  expect(b.state).toBe(BackupState.BACKUP_STATE_FAILED);
  expect(b.reason).toMatch(/SVM "vs-ghost" is not defined/);
  const state = (await as("coordinator")).state;
  let left = await state.get(svmKey("vs-ghost"));
  for (const deadline = Date.now() + 10_000; left && Date.now() < deadline;)
    left = await new Promise((r) => setTimeout(r, 200)).then(() => state.get(svmKey("vs-ghost")));
  expect(left).toBeNull();
});
