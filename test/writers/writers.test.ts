/**
 * Application writers end to end: the four services as processes, the SQLite reference writer as a
 * process under a continuous workload, and writers built on the SDK that time out, crash, or share
 * a set, each logged in to NATS (TLS) as its own writer user. Restored databases are checked with
 * the sqlite3 command-line shell, not our own binding.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { RvssClient } from "@rvss/client";
import { BackupState, WriterErrorPolicy, type Backup } from "@rvss/proto";
import { LocalBackend } from "@rvss/storage";
import { writerIdentity } from "@rvss/core";
import { parseCheckpoint } from "@rvss/sqlite-writer";
import { startWriter, type Writer } from "@rvss/writer-sdk";
import {
  EventRecorder,
  createSampleFiler,
  removeTree,
  startRvss,
  startSecureNats,
  startSqliteWriterProcess,
  type NatsServer,
  type NatsUsers,
  type RvssProcesses,
  type SampleFiler,
} from "@rvss/testkit";

const DBS = ["sqlvm/orders.sqlite", "sqlvm/ledger.sqlite"];
let dir: string;
let nats: NatsServer;
let users: NatsUsers;
let filer: SampleFiler;
let rvss: RvssProcesses;
let client: RvssClient;
let events: EventRecorder;
let backend: LocalBackend;

/** Every writer of this file, each granted the one share it registers for. */
const WRITERS = ["sqlite-ref", "stuck-writer", "slow-recover", "writer-a", "writer-b", "crashing-writer"];

/** How writer `id` logs in to NATS through the SDK: its own user, over TLS. */
const loginAs = (id: string) => ({ servers: nats.url, ...users.writerLogin(id) });

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-writers-"));
  filer = await createSampleFiler(dir);
  ({ nats, users } = await startSecureNats(
    dir,
    WRITERS.map((id) => `${id}=vs1/share1`),
  ));
  rvss = await startRvss(
    {
      NATS_URL: nats.url,
      RVSS_FILER_CONFIG: filer.configPath,
      // Short enough to keep the failure tests quick, long enough for a loaded CI machine.
      RVSS_WRITER_CHECKPOINT_TIMEOUT_MS: "2500",
      RVSS_WRITER_THAW_TIMEOUT_MS: "2500",
      RVSS_WRITER_AUTO_RECOVER_TIMEOUT_MS: "3000",
      RVSS_WRITER_FREEZE_WINDOW_MS: "5000",
    },
    { natsUsers: users },
  );
  client = new RvssClient({ address: rvss.grpcAddr, auth: rvss.pki!.clientAuth() });
  events = await EventRecorder.start(nats.url, users);
  backend = LocalBackend.fromFile(filer.configPath);
});

afterAll(async () => {
  client.close();
  await events.stop();
  await rvss.stop();
  await nats.dispose();
  await removeTree(dir);
  nats.assertNoViolations();
});

async function backup(files: string[], onWriterError = WriterErrorPolicy.WRITER_ERROR_POLICY_FAIL): Promise<Backup> {
  const b = await client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files }], onWriterError });
  await events.waitFor((e) => e.event.backupId === b.id && e.event.body?.$case === "backupFinished", 60_000);
  return client.getBackup(b.id);
}

async function nothingLeft(): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    const left = [...(await backend.listShadowCopies("vs1")), ...(await backend.listExposedShares("vs1"))];
    if (left.length === 0) return;
    if (Date.now() > end) throw new Error(`left on the filer: ${JSON.stringify(left)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function sqlite(file: string, sql: string): string {
  return execFileSync("sqlite3", [file, sql], { encoding: "utf8" }).trim();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test("20 backups back to back under a continuous SQLite workload restore exactly to each checkpoint", async () => {
  const writer = await startSqliteWriterProcess({
    natsUrl: nats.url,
    svm: "vs1",
    share: "share1",
    dir: filer.shareDir,
    databases: DBS,
    rate: 200,
    name: "sqlite-ref",
    writerId: "sqlite-ref",
    env: users.env(writerIdentity("sqlite-ref")),
  });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const freezes: number[] = [];
    let lastIds: Record<string, number> = {};
    for (let i = 0; i < 20; i++) {
      const b = await backup([...filer.files, ...DBS]);
      expect([i, b.state, b.reason]).toEqual([i, BackupState.BACKUP_STATE_COMPLETED, ""]);
      const steps = b.sets[0]!.writerSteps;
      expect(steps.map((s) => `${s.step}:${s.report?.name}:${s.report?.ok}`)).toEqual([
        "checkpoint:sqlite-ref:true",
        "thaw:sqlite-ref:true",
        "auto_recover:sqlite-ref:true",
      ]);
      const ids = parseCheckpoint(steps[0]!.report!.detail);
      freezes.push(Number(/frozen_ms=(\d+)/.exec(steps[1]!.report!.detail)![1]));
      for (const db of DBS) expect(ids[db]!).toBeGreaterThan(lastIds[db] ?? 0);
      lastIds = ids;

      const target = path.join(dir, `restore-${i}`);
      for (const db of DBS) {
        await client.restore({ backupId: b.id, files: [db], target: { kind: { $case: "directory", value: target } } });
        const file = path.join(target, db);
        expect(sqlite(file, "PRAGMA integrity_check;")).toBe("ok");
        // Exactly the rows up to the checkpoint: ids 1..N without a gap, nothing after.
        expect(sqlite(file, "SELECT count(*) || ' ' || min(id) || ' ' || max(id) FROM tx;")).toBe(
          `${ids[db]} 1 ${ids[db]}`,
        );
      }
    }
    await nothingLeft();
    const summary = `freeze over 20 backups: median ${median(freezes)} ms, max ${Math.max(...freezes)} ms`;
    process.stdout.write(`${summary}\n`);
    expect(Math.max(...freezes)).toBeLessThan(5000);
  } finally {
    await writer.stop();
  }
});

describe("writers that fail", () => {
  let writers: Writer[] = [];
  afterEach(async () => {
    await Promise.all(writers.map((w) => w.stop()));
    writers = [];
  });

  const base = { svm: "vs1", shares: [{ share: "share1" }], async thaw() {}, async autoRecover() {} };

  test("a writer that does not answer the checkpoint, under fail: the set is aborted and nothing is left", async () => {
    writers.push(
      await startWriter({
        ...base,
        ...loginAs("stuck-writer"),
        name: "stuck-writer",
        checkpoint: () => new Promise(() => undefined),
      }),
    );
    const b = await backup(filer.files);
    expect(b.state).toBe(BackupState.BACKUP_STATE_FAILED);
    expect(b.reason).toMatch(
      /writer "stuck-writer" \(stuck-writer\) failed to checkpoint: did not answer within 2500 ms/,
    );
    await nothingLeft();
  });

  test("a writer that does not auto-recover, under continue: sealed and snapshotted, the backup PartiallyFailed with the reason", async () => {
    writers.push(
      await startWriter({
        ...base,
        ...loginAs("slow-recover"),
        name: "slow-recover",
        checkpoint: async () => ({ detail: "cp" }),
        autoRecover: () => new Promise(() => undefined),
      }),
    );
    const b = await backup(filer.files, WriterErrorPolicy.WRITER_ERROR_POLICY_CONTINUE);
    expect(b.state).toBe(BackupState.BACKUP_STATE_PARTIALLY_FAILED);
    expect(b.reason).toMatch(/writer "slow-recover" .* failed to auto-recover: did not answer within 3000 ms/);
    expect(b.sets[0]!.snapshots.length).toBe(1);
    expect(b.sets[0]!.writerSteps.map((s) => [s.step, s.report?.ok])).toEqual([
      ["checkpoint", true],
      ["thaw", true],
      ["auto_recover", false],
    ]);
    await nothingLeft();
  });

  test("two writers on one set: both take part in every step, in order", async () => {
    const seen: string[] = [];
    for (const name of ["writer-a", "writer-b"]) {
      writers.push(
        await startWriter({
          ...base,
          ...loginAs(name),
          name,
          checkpoint: async () => void seen.push(`${name}:checkpoint`),
          thaw: async () => void seen.push(`${name}:thaw`),
          autoRecover: async () => void seen.push(`${name}:recover`),
          finish: async ({ completed }) => void seen.push(`${name}:finish:${completed}`),
        }),
      );
    }
    const b = await backup(filer.files);
    expect(b.state).toBe(BackupState.BACKUP_STATE_COMPLETED);
    expect(new Set(b.sets[0]!.writerSteps.map((s) => s.report?.name))).toEqual(new Set(["writer-a", "writer-b"]));
    await events.waitFor((e) => e.event.backupId === b.id && e.event.body?.$case === "writersFinished");
    for (const name of ["writer-a", "writer-b"]) {
      expect(seen.filter((s) => s.startsWith(name))).toEqual([
        `${name}:checkpoint`,
        `${name}:thaw`,
        `${name}:recover`,
        `${name}:finish:true`,
      ]);
    }
  });

  // Last: the dead writer's registration lives on until its TTL.
  test("a writer process that crashes between checkpoint and thaw: the set aborts cleanly", async () => {
    const script = path.join(__dirname, "..", "dist", "writers", "crashing-writer.js");
    const child = spawn(process.execPath, [path.resolve(script), nats.url, "vs1", "share1", "crashing-writer"], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...users.env(writerIdentity("crashing-writer")) },
    });
    await new Promise<void>((resolve) =>
      child.stdout!.on("data", (b: Buffer) => b.toString().includes("ready") && resolve()),
    );
    const b = await backup(filer.files);
    await new Promise((r) => (child.exitCode === null && child.signalCode === null ? child.once("exit", r) : r(null)));
    expect(child.signalCode).toBe("SIGKILL");
    expect(b.state).toBe(BackupState.BACKUP_STATE_FAILED);
    // Whichever step first finds it gone (thaw, or auto-recover while the thaw still waits) aborts the set.
    expect(b.reason).toMatch(
      /writer "crashing-writer" .* failed to (thaw|auto-recover): (did not answer within 2500 ms|the writer is not reachable)/,
    );
    await nothingLeft();
  });
});
