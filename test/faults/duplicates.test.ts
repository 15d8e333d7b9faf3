/**
 * Duplicates injected while backups run:
 *   - every command and event of a backup published again under its own message ID (what a
 *     publisher's retry does): JetStream must drop every one;
 *   - every command and event published again under a new message ID (the same work delivered
 *     twice), and once more long after the backup ended: each handler must be safe to run twice,
 *     the repeats' own results carry the same IDs and are dropped, and what a late repeat makes on
 *     storage is removed by the reconciler;
 *   - real redeliveries: a replica frozen longer than the ack wait while it holds work, so the
 *     server hands the work to the other replica, and the frozen one then finishes it as well.
 */
import { COMMAND_STREAMS, DLQ_STREAM } from "@rvss/core";
import { VerificationState } from "@rvss/proto";
import { headers as natsHeaders, type Msg, type Subscription } from "@nats-io/transport-node";
import { jetstream, type PubAck } from "@nats-io/jetstream";
import {
  freePort,
  startSecureNats,
  startService,
  type NatsServer,
  type NatsUsers,
  type RecordedEvent,
  type ServiceName,
} from "@rvss/testkit";
import { checkBackup } from "./checks";
import { writeFaultTable, type FaultRow } from "./report";
import { midStepTrigger } from "./phases";
import { VOLUMES, datasetOf, sleep, startFaultSystem, storageDirs, until, type FaultSystem } from "./system";

const INJECTED = "Rvss-Test-Injected";
const isInjected = (e: RecordedEvent) => e.msgId.startsWith("dup/") || e.msgId.startsWith("late/");

let nats: NatsServer;
let users: NatsUsers;
let sys: FaultSystem;
const rows: FaultRow[] = [];

beforeAll(async () => {
  ({ nats, users } = await startSecureNats());
  sys = await startFaultSystem({ natsUrl: nats.url, users, svms: ["d-same", "d-new", "d-executor", "d-coordinator"] });
}, 60_000);

afterAll(async () => {
  writeFaultTable("duplicates", rows);
  await sys?.stop();
  await nats?.dispose();
});

function row(cell: string, fault: string, problems: string[]): void {
  rows.push({
    cell,
    fault,
    phase: "every phase",
    outcome: problems.length === 0 ? "Completed, clean" : `${problems.length} problems`,
    problems,
  });
}

/** Copies every command and event of `svm` (and every backup event) as it is published; `republish` sends each again. */
function capture(svm: string, republish: (m: Msg) => Promise<void>): { seen: Msg[]; stop(): Promise<void> } {
  const seen: Msg[] = [];
  const pending: Promise<void>[] = [];
  const subs: Subscription[] = [`rvss.v1.cmd.*.${svm}.>`, `rvss.v1.evt.${svm}.>`, "rvss.v1.bkp.>"].map((subject) =>
    sys.nc.subscribe(subject, {
      callback: (_err, m) => {
        if (m.headers?.get(INJECTED)) return;
        seen.push(m);
        pending.push(republish(m));
      },
    }),
  );
  return {
    seen,
    async stop() {
      subs.forEach((s) => s.unsubscribe());
      await Promise.all(pending);
    },
  };
}

/** Publishes `m` again to JetStream with its headers, under `msgId`. */
function publishAgain(m: Msg, msgId: string): Promise<PubAck> {
  const h = natsHeaders();
  for (const k of m.headers?.keys() ?? []) if (k !== "Nats-Msg-Id") h.set(k, m.headers!.get(k));
  h.set(INJECTED, "1");
  return jetstream(sys.nc).publish(m.subject, m.data, { msgID: msgId, headers: h });
}

test("every command and event published twice under its own message ID is stored once", async () => {
  const acks: { subject: string; msgId: string; duplicate: boolean }[] = [];
  const tap = capture("d-same", async (m) => {
    const msgId = m.headers!.get("Nats-Msg-Id");
    const ack = await publishAgain(m, msgId);
    acks.push({ subject: m.subject, msgId, duplicate: ack.duplicate });
  });
  const b = await sys.client.createBackup({ dataset: datasetOf("d-same") });
  const problems = await checkBackup(sys, b.id, { writers: false });
  // The verifier reports after the backup ended: the comparison below waits for its last events.
  for (const volume of VOLUMES)
    await sys.events.waitFor(
      (e) =>
        e.event.backupId === b.id &&
        e.event.body?.$case === "snapshotVerification" &&
        e.event.body.value.volume === volume &&
        e.event.body.value.verification?.state === VerificationState.VERIFICATION_STATE_VERIFIED,
    );
  await tap.stop();
  await sys.events.caughtUp();
  row("same message ID × every message", "publish again", problems);
  expect(problems).toEqual([]);
  // Every event of the backup and its resolve, checkpoint, create, expose and finalize commands
  // (rvss itself may publish one twice, which is why IDs are compared, not counts).
  const ids = (cmd: boolean) =>
    [...new Set(acks.filter((a) => a.subject.startsWith("rvss.v1.cmd.") === cmd).map((a) => a.msgId))].sort();
  expect(ids(false)).toEqual(
    sys.events.events
      .filter((e) => e.event.backupId === b.id)
      .map((e) => e.msgId)
      .sort(),
  );
  expect(ids(true).length).toBe(5);
  expect(acks.filter((a) => !a.duplicate)).toEqual([]);
});

test("every command and event delivered twice, and again after the backup ended, changes nothing", async () => {
  const svm = "d-new";
  const tap = capture(svm, async (m) => void (await publishAgain(m, `dup/${m.headers!.get("Nats-Msg-Id")}`)));
  const b = await sys.client.createBackup({ dataset: datasetOf(svm) });
  const first = await checkBackup(sys, b.id, { writers: false, skip: isInjected });
  await tap.stop();
  expect(first).toEqual([]);
  const setId = (await sys.backup(b.id))!.sets[0]!.setId!;
  const snapshots = (await sys.backend.listSnapshots(svm)).map((s) => s.name).sort();

  // Long after: the whole conversation once more, in order; then the create command alone. The set
  // has left its SVM's record, so the executor refuses it (dead-lettered) and makes no clone.
  for (const m of tap.seen) await publishAgain(m, `late/${m.headers!.get("Nats-Msg-Id")}`);
  await until("the repeated commands to be done", async () => ((await commandsQueued()) === 0 ? true : undefined));
  const late = await checkBackup(sys, b.id, { writers: false, skip: isInjected });
  const create = tap.seen.find((m) => m.subject.endsWith(".create_shadow_copies"))!;
  const deadLetters = async (): Promise<number> => (await sys.jsm.streams.info(DLQ_STREAM)).state.messages;
  const letters = await deadLetters();
  await publishAgain(create, `late/again/${create.headers!.get("Nats-Msg-Id")}`);
  await until("the lone create to be dead-lettered", async () => ((await deadLetters()) > letters ? true : undefined));
  const lone = await checkBackup(sys, b.id, { writers: false, skip: isInjected });
  row("new message ID × every message, twice", "deliver again", [...first, ...late, ...lone]);
  expect([late, lone]).toEqual([[], []]);
  expect(await sys.backend.listShadowCopies(svm)).toEqual([]);
  expect((await sys.backend.listSnapshots(svm)).map((s) => s.name).sort()).toEqual(snapshots);
  expect((await sys.backup(b.id))!.sets.map((s) => [s.setId, s.phase])).toEqual([[setId, "completed"]]);
});

/** Messages waiting in the command work queues. */
async function commandsQueued(): Promise<number> {
  let n = 0;
  for (const stream of Object.values(COMMAND_STREAMS)) n += (await sys.jsm.streams.info(stream)).state.messages;
  return n;
}

/**
 * Starts a second replica of `name` (held frozen), freezes the first at the moment it works on the
 * set's clones (the coordinator: it just asked for them; the executor: it is making them) for longer
 * than the ack wait, so the server hands the work to the second; then thaws the first, which
 * finishes its copy of the work too.
 */
async function frozenMidWork(name: ServiceName, svm: string): Promise<string[]> {
  const second = await startService(name, {
    ...sys.env,
    ...sys.users.env(name),
    RVSS_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
  });
  const first = sys.services[name];
  const trigger = midStepTrigger(sys, svm, name, "create", { storageDirs: storageDirs(sys.dir, svm), writerAsked: {} });
  try {
    second.pause();
    await trigger.armed;
    const b = await sys.client.createBackup({ dataset: datasetOf(svm) });
    await trigger.fired;
    first.pause();
    second.resume();
    trigger.stop();
    await sleep(Number(sys.env.RVSS_ACK_WAIT_MS) + 1_500);
    first.resume();
    return await checkBackup(sys, b.id, { writers: false });
  } finally {
    trigger.stop();
    first.resume();
    second.resume();
    await second.stop();
  }
}

test("a snapshot-executor frozen while it makes clones: the other replica makes them too, and both finish", async () => {
  const problems = await frozenMidWork("snapshot-executor", "d-executor");
  row("snapshot-executor frozen > ack wait", "redelivered", problems);
  expect(problems).toEqual([]);
});

test("a coordinator frozen right after it asked for clones: the other replica acts on the same events", async () => {
  const problems = await frozenMidWork("coordinator", "d-coordinator");
  row("coordinator frozen > ack wait", "redelivered", problems);
  expect(problems).toEqual([]);
});
