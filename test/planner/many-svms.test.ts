/**
 * The planner over real NATS and real files: several backups across a few dozen SVMs at once. From
 * the event stream: never two sets of one SVM in creation at once, never more sets running than the
 * global limit, and every set completes.
 */
import { RvssClient } from "@rvss/client";
import { BackupState } from "@rvss/proto";
import { testPki, type EventRecorder } from "@rvss/testkit";
import { startFsrvpSystem, type FsrvpSystem } from "../fsrvp/system";

const SVMS = Array.from({ length: 30 }, (_, i) => `p${String(i + 1).padStart(2, "0")}`);
const LIMIT = 8;
let sys: FsrvpSystem;
let events: EventRecorder;
let client: RvssClient;

beforeAll(async () => {
  sys = await startFsrvpSystem(SVMS, { RVSS_MAX_CONCURRENT_SETS: String(LIMIT) });
  events = sys.events;
  client = new RvssClient({ address: `127.0.0.1:${sys.port}`, auth: testPki().clientAuth() });
});
afterAll(async () => {
  client.close();
  await sys.stop();
});

test("three backups over 30 SVMs: per-SVM serialisation and the global limit hold, all sets complete", async () => {
  const dataset = SVMS.flatMap((svm) => [
    { svm, share: "share1", files: [] },
    { svm, share: "share2", files: [] },
  ]);
  const ids = await Promise.all([0, 1, 2].map(() => client.createBackup({ dataset }).then((b) => b.id)));
  const early = await client.getBackup(ids[2]!);
  expect(early.sets.some((s) => s.stage.startsWith("waiting for a free slot") && s.queuePosition > 0)).toBe(true);
  for (const id of ids)
    await events.waitFor((e) => e.event.backupId === id && e.event.body?.$case === "backupFinished", 120_000);
  const finished = await Promise.all(ids.map((id) => client.getBackup(id)));
  expect(finished.map((b) => [b.state, b.progress?.setsCompleted, b.reason])).toEqual(
    ids.map(() => [BackupState.BACKUP_STATE_COMPLETED, SVMS.length, ""]),
  );

  const mine = new Set(ids);
  const inCreation = new Map<string, string | null>();
  let running = 0;
  let maxRunning = 0;
  for (const { event: e } of events.events) {
    if (!mine.has(e.backupId) || !e.setId) continue;
    switch (e.body?.$case) {
      case "setStarted":
        expect([e.svm, inCreation.get(e.svm) ?? null]).toEqual([e.svm, null]);
        inCreation.set(e.svm, e.setId);
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        break;
      case "shadowCopiesSealed":
        if (inCreation.get(e.svm) === e.setId) inCreation.set(e.svm, null);
        break;
      case "setCompleted":
      case "setAborted":
        running -= 1;
        break;
    }
  }
  expect(running).toBe(0);
  expect(maxRunning).toBeLessThanOrEqual(LIMIT);
  expect(maxRunning).toBeGreaterThan(1);
});
