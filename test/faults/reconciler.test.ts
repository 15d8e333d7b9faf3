/**
 * The reconciler, with the services as processes: it removes what rvss made but no record knows,
 * keeps what records know (and snapshots rvss did not make), leaves storage of sets in flight
 * alone, starts again a removal that had failed for good, sends a command that was lost as a new
 * attempt, and applies again results whose effect on the record was lost. It runs every second here.
 */
import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as http from "node:http";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import {
  snapshotName,
  COMMAND_STREAMS,
  COORDINATOR_EVENTS_CONSUMER,
  EVENTS_STREAM,
  commandSubject,
  systemEventSubject,
} from "@rvss/core";
import { PUBLISH_GIVE_UP_MS } from "@rvss/bus";
import { jetstream } from "@nats-io/jetstream";
import { startSecureNats, type NatsServer, type NatsUsers } from "@rvss/testkit";
import { checkBackup, unknownStorage } from "./checks";
import { holdAt } from "./phases";
import { SHARES, datasetOf, sleep, startFaultSystem, storageDirs, until, type FaultSystem } from "./system";

let nats: NatsServer;
let users: NatsUsers;
let sys: FaultSystem;

beforeAll(async () => {
  ({ nats, users } = await startSecureNats());
  sys = await startFaultSystem({ natsUrl: nats.url, users, svms: ["r1", "r2", "r3", "r4", "r5"] });
}, 60_000);

afterAll(async () => {
  await sys?.stop();
  await nats?.dispose();
});

function metrics(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/metrics" }, (res) => {
        let body = "";
        res.on("data", (b: Buffer) => (body += b.toString()));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

test("orphans are removed and reported; what records know, and snapshots rvss did not make, are kept", async () => {
  const svm = "r1";
  const kept = await sys.client.createBackup({ dataset: datasetOf(svm) });
  expect(await checkBackup(sys, kept.id, { writers: false })).toEqual([]);
  const backupSnapshots = (await sys.backup(kept.id))!.sets[0]!.snapshots.map((s) => s.name).sort();

  // What a crash can leave: a clone made just before it (never recorded), one exposed too, a clone
  // half made, a snapshot of a backup no record has; and a snapshot someone else took. (Made while
  // the reconciler is frozen, so one run finds them all.)
  sys.services.coordinator.pause();
  sys.services["snapshot-executor"].pause();
  const share = (i: number) => ({ svm, share: SHARES[i]!.share, volume: SHARES[i]!.volume, sharePath: "vms" });
  const [lost, exposed, half] = [randomUUID(), randomUUID(), randomUUID()];
  await sys.backend.createShadowCopy({
    svm,
    shadowCopyId: lost,
    share: share(0),
    files: [SHARES[0].file],
    writable: true,
  });
  await sys.backend.createShadowCopy({
    svm,
    shadowCopyId: exposed,
    share: share(1),
    files: [SHARES[1].file],
    writable: true,
  });
  await sys.backend.exposeShadowCopy({
    svm,
    volume: "vol_b",
    shadowCopyId: exposed,
    baseShare: "share_b",
    exposedName: `share_b@{${exposed}}`,
    writable: true,
  });
  await fsp.mkdir(path.join(storageDirs(sys.dir, svm)[0]!, `.tmp-${half}`, "vm1"), { recursive: true });
  const strayName = snapshotName(randomUUID(), randomUUID(), Date.now());
  await sys.backend.createSnapshot({ svm, volume: "vol_a", name: strayName });
  await sys.backend.createSnapshot({ svm, volume: "vol_b", name: "nightly.0" });
  // A run before the pause may have removed a clone a late duplicate command made: look past it.
  await sys.events.caughtUp();
  const before = sys.events.events.length;
  sys.services.coordinator.resume();
  sys.services["snapshot-executor"].resume();

  const report = await sys.events.waitFor(
    (e) =>
      e.seq > (sys.events.events[before - 1]?.seq ?? 0) && e.subject === systemEventSubject(svm, "reconcileFinished"),
    15_000,
  );
  const r = report.event.body?.$case === "reconcileFinished" ? report.event.body.value : undefined;
  expect([r?.orphanShadowCopies.sort(), r?.orphanExposedShares, r?.orphanSnapshots]).toEqual([
    [lost, exposed, half].sort(),
    [`share_b@{${exposed}}`],
    [strayName],
  ]);
  // The orphans are removed like an aborted set's storage, and the removal confirmed.
  await sys.events.waitFor(
    (e) => e.event.setId === r!.drainSetId && e.event.body?.$case === "shadowCopiesDeleted",
    15_000,
  );
  await until(
    "the orphans to be gone",
    async () => ((await sys.backend.listShadowCopies(svm)).length === 0 ? true : undefined),
    10_000,
  );
  expect(await sys.backend.listExposedShares(svm)).toEqual([]);
  expect((await sys.backend.listSnapshots(svm)).map((s) => s.name).sort()).toEqual(
    [...backupSnapshots, "nightly.0"].sort(),
  );
  expect(await unknownStorage(sys, svm)).toEqual([]);
  const m = await metrics(sys.services.coordinator.healthPort);
  expect(m).toMatch(/rvss_reconcile_orphans_total\{kind="shadow_copy"\} 3/);
  expect(m).toMatch(/rvss_reconcile_orphans_total\{kind="exposed_share"\} 1/);
  expect(m).toMatch(/rvss_reconcile_orphans_total\{kind="snapshot"\} 1/);
});

test("storage of a set in flight is left alone while the reconciler runs", async () => {
  const svm = "r2";
  const held = await holdAt(sys, svm, "finalize", datasetOf(svm), { writers: false });
  const copies = (await sys.backend.listShadowCopies(svm)).map((c) => c.shadowCopyId).sort();
  expect(copies.length).toBe(2);
  await sleep(2_500);
  expect((await sys.backend.listShadowCopies(svm)).map((c) => c.shadowCopyId).sort()).toEqual(copies);
  expect((await sys.backend.listExposedShares(svm)).length).toBe(2);
  for (const s of Object.values(sys.services)) s.resume();
  expect(await checkBackup(sys, held.backupId, { writers: false })).toEqual([]);
});

/** Makes a directory refuse removals of its entries: immutable for root, read-only for anyone else. */
function lock(dir: string, on: boolean): void {
  if (process.getuid?.() === 0) execFileSync("chattr", [on ? "+i" : "-i", dir]);
  else execFileSync("chmod", [on ? "555" : "755", dir]);
}

test("a clean-up that failed for good after the snapshots were taken is started again, and the set then completes", async () => {
  const svm = "r3";
  const held = await holdAt(sys, svm, "finalize", datasetOf(svm), { writers: false });
  // The exposed shares' registry refuses removals: the copies are sealed and the snapshots taken,
  // only the clean-up fails.
  const registry = path.join(sys.dir, "filer", svm, ".shares");
  const executor = sys.services["snapshot-executor"];
  lock(registry, true);
  try {
    executor.resume();
    await sys.events.waitFor((e) => e.event.setId === held.setId && e.event.body?.$case === "stepFailed", 30_000);
    // The reconciler may start its new attempt at once: frozen, the executor cannot fail it too
    // while the registry is still locked.
    executor.pause();
    await until("the failure to be recorded", async () => ((await sys.svm(svm))?.removals[0] ? true : undefined));
  } finally {
    lock(registry, false);
    executor.resume();
  }
  const retried = await sys.events.waitFor((e) => e.subject === `rvss.v1.sys.${svm}.reconcile_finished`, 15_000);
  expect(retried.event.body?.$case === "reconcileFinished" && retried.event.body.value.drainsRetried).toBe(1);
  await until(
    "the backup to complete",
    async () => ((await sys.backup(held.backupId))?.state === "Completed" ? true : undefined),
    20_000,
  );
  await sys.events.waitFor((e) => e.event.setId === held.setId && e.event.body?.$case === "setCompleted");
  const types = sys.events.of(held.setId).map((e) => e.event.body?.$case);
  expect([
    types.filter((t) => t === "stepFailed").length,
    types.filter((t) => t === "shadowCopiesDeleted").length,
    types.filter((t) => t === "setCompleted").length,
  ]).toEqual([1, 1, 1]);
  expect(await unknownStorage(sys, svm)).toEqual([]);
});

test(
  "a command lost from its work queue is sent again as a new attempt, and the set completes",
  async () => {
    const svm = "r4";
    const held = await holdAt(sys, svm, "create", datasetOf(svm), { writers: false });
    // What a failover can do: the command is gone from the queue and no result was ever published.
    // (The frozen executor may hold it already: it dies with it.)
    const lost = await sys.jsm.streams.getMessage(COMMAND_STREAMS.executor, {
      last_by_subj: commandSubject("executor", svm, "createShadowCopies"),
    });
    expect(lost?.header.get("Nats-Msg-Id")).toBe(`${held.setId}:create:1`);
    await sys.services["snapshot-executor"].kill();
    await sys.jsm.streams.deleteMessage(COMMAND_STREAMS.executor, lost!.seq);
    await sys.restart("snapshot-executor");
    // Lost is decided once a publish would have given up and two ack waits passed (1.5 s each here).
    const created = await sys.events.waitFor(
      (e) => e.event.setId === held.setId && e.event.body?.$case === "shadowCopiesCreated",
      PUBLISH_GIVE_UP_MS + 15_000,
    );
    expect(created.msgId).toBe(`${held.setId}:create:2/shadowCopiesCreated`);
    expect(await checkBackup(sys, held.backupId, { writers: false })).toEqual([]);
    expect(sys.services.coordinator.output()).toMatch(
      /command lost \(neither queued nor answered\): sent again as a new attempt/,
    );
  },
  PUBLISH_GIVE_UP_MS + 90_000,
);

test(
  "results consumed without their effect on the record are applied again, and the set completes",
  async () => {
    const svm = "r5";
    const held = await holdAt(sys, svm, "finalize", datasetOf(svm), { writers: false });
    await sys.services.coordinator.kill();
    sys.services["snapshot-executor"].resume();
    await sys.events.waitFor(
      (e) => e.event.setId === held.setId && e.event.body?.$case === "shadowCopiesDeleted",
      30_000,
    );
    // What a failover can do: the reports were taken and acked, but the record's write (or the read
    // it was decided on) was lost. Here the test takes them from the coordinator's consumer itself.
    const taken: string[] = [];
    const reports = await jetstream(sys.nc).consumers.get(EVENTS_STREAM, COORDINATOR_EVENTS_CONSUMER);
    for await (const m of await reports.fetch({ max_messages: 100, expires: 1_000 })) {
      taken.push(m.subject.split(".").pop()!);
      m.ack();
    }
    expect(taken).toEqual(expect.arrayContaining(["shadow_copies_sealed", "snapshot_taken", "shadow_copies_deleted"]));
    await sys.restart("coordinator");
    expect(await checkBackup(sys, held.backupId, { writers: false, timeoutMs: PUBLISH_GIVE_UP_MS + 30_000 })).toEqual(
      [],
    );
    expect(sys.services.coordinator.output()).toMatch(
      /results of a command were answered but missing from the record: applied again/,
    );
  },
  PUBLISH_GIVE_UP_MS + 90_000,
);
