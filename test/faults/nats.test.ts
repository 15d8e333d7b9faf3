/**
 * NATS itself failing under a backup: a single file-backed nats-server killed (-9) at several
 * moments and started again on the same port and store; and a 3-node JetStream cluster with every
 * stream and KV bucket replicated three times, whose events-stream leader is killed in the middle
 * of a backup over three SVMs and stays down. Every backup must finish as if nothing had happened.
 */
import { COMMAND_STREAMS, EVENTS_STREAM } from "@rvss/core";
import { NatsCluster, startSecureNats, type NatsServer, type NatsUsers } from "@rvss/testkit";
import { checkBackup } from "./checks";
import { writeFaultTable, type FaultRow } from "./report";
import { datasetOf, sleep, startFaultSystem, until, type FaultSystem } from "./system";

const rows: FaultRow[] = [];
afterAll(() => writeFaultTable("nats", rows));

function row(cell: string, fault: string, phase: string, problems: string[], resumeMs: number | undefined): void {
  rows.push({
    cell,
    fault,
    phase,
    outcome: problems.length === 0 ? "Completed, clean" : `${problems.length} problems`,
    resumeMs,
    problems,
  });
}

describe("a single nats-server killed -9 and restarted", () => {
  const moments = ["setStarted", "shadowCopiesCreated", "snapshotTaken"] as const;
  let nats: NatsServer;
  let users: NatsUsers;
  let sys: FaultSystem;

  beforeAll(async () => {
    ({ nats, users } = await startSecureNats());
    sys = await startFaultSystem({ natsUrl: nats.url, users, svms: moments.map((m) => `k-${m}`) });
  }, 60_000);

  afterAll(async () => {
    await sys?.stop();
    await nats?.dispose();
  });

  test.each(moments)("at the first %s of a backup", async (moment) => {
    const svm = `k-${moment}`;
    const b = await sys.client.createBackup({ dataset: datasetOf(svm) });
    await sys.events.waitFor((e) => e.event.backupId === b.id && e.event.body?.$case === moment, 30_000);
    await nats.kill();
    const killedAt = Date.now();
    await sleep(500);
    await nats.restart();
    const next = sys.events.events.length;
    const problems = await checkBackup(sys, b.id, { writers: false });
    const resumed = sys.events.events.slice(next).find((e) => e.event.backupId === b.id);
    row(`nats-server × ${moment}`, "nats-server", moment, problems, resumed && resumed.receivedAt - killedAt);
    expect(problems).toEqual([]);
    expect((await sys.backup(b.id))?.state).toBe("Completed");
  });
});

describe("a 3-node JetStream cluster", () => {
  let cluster: NatsCluster;
  let sys: FaultSystem;
  const svms = ["c1", "c2", "c3"];

  beforeAll(async () => {
    cluster = await NatsCluster.start(3, { secure: true });
    // Big files make the storage steps long enough that the kill lands while sets are in flight.
    sys = await startFaultSystem({
      natsUrl: cluster.url,
      users: cluster.users!,
      svms,
      fileBytes: () => 8 * 1024 * 1024,
      env: { RVSS_REPLICAS: "3" },
    });
  }, 90_000);

  afterAll(async () => {
    await sys?.stop();
    await cluster?.dispose();
  });

  test("losing the events stream's leader in the middle of a backup over three SVMs", async () => {
    const info = await sys.jsm.streams.info("RVSS_EVENTS");
    expect(info.config.num_replicas).toBe(3);
    const b = await sys.client.createBackup({ dataset: svms.flatMap(datasetOf) });
    await sys.events.waitFor((e) => e.event.backupId === b.id && e.event.body?.$case === "shadowCopiesCreated", 30_000);
    const leader = await cluster.leaderOf("RVSS_EVENTS");
    await leader.kill();
    const killedAt = Date.now();
    const next = sys.events.events.length;
    const problems = await checkBackup(sys, b.id, { writers: false, timeoutMs: 90_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnosis(sys, svms)}`);
    });
    const resumed = sys.events.events.slice(next).find((e) => e.event.backupId === b.id);
    row(
      "stream leader × 3 SVMs in flight",
      "stream leader",
      "create",
      problems,
      resumed && resumed.receivedAt - killedAt,
    );
    expect(problems).toEqual([]);
    // Reads retried: the other streams may still be electing leaders of their own.
    const done = await until("the backup's record", () => sys.backup(b.id).then((r) => r ?? undefined));
    expect([done.state, done.sets.map((s) => s.reason ?? s.phase)]).toEqual([
      "Completed",
      ["completed", "completed", "completed"],
    ]);
    expect((await until("the stream's new leader", () => cluster.leaderOf("RVSS_EVENTS"))).serverName).not.toBe(
      leader.serverName,
    );
  }, 150_000);
});

/** Where the work stands and what the services warned of last, for a failure's message. */
async function diagnosis(sys: FaultSystem, svms: string[]): Promise<string> {
  const lines: string[] = [];
  for (const svm of svms) {
    const rec = await sys.svm(svm).catch(() => null);
    lines.push(
      `${svm}: sets ${JSON.stringify(rec?.sets.map((x) => [x.status, x.pending]))}, removals ${rec?.removals.length}`,
    );
    for (const set of rec?.sets ?? []) {
      const seen = sys.events.events.filter((e) => e.event.setId === set.id).map((e) => `${e.seq} ${e.event.eventId}`);
      lines.push(`  set ${set.id} events: ${seen.join(", ")}`);
    }
  }
  for (const stream of [...Object.values(COMMAND_STREAMS), EVENTS_STREAM]) {
    for await (const c of sys.jsm.consumers.list(stream)) {
      lines.push(
        `${stream}/${c.name}: pending ${c.num_pending}, ack pending ${c.num_ack_pending}, redelivered ${c.num_redelivered}, leader ${c.cluster?.leader}`,
      );
    }
  }
  lines.push(...sys.events.events.slice(-5).map((e) => `event ${e.seq} ${e.subject}`));
  for (const p of Object.values(sys.services)) {
    lines.push(
      ...p
        .output()
        .split("\n")
        .filter((l) => /"level":(40|50|60)/.test(l))
        .slice(-5)
        .map((l) => `${p.name}: ${l.slice(0, 300)}`),
    );
  }
  return lines.join("\n");
}
