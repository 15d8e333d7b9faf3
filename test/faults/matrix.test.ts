/**
 * Fault suite, case 1: each of the four services killed (-9) while each phase of a managed set is in
 * flight, then restarted. Every cell backs up a fresh SVM (two volumes, a writer on both shares)
 * and must end Completed, with nothing left on the filer and every step's event once.
 *
 * Two moments per phase:
 *   - queued: the phase's command waits in its work queue (its service frozen); every service is
 *     killed in turn (4 × 6 cells);
 *   - mid-step: the service that acts is killed while it acts (6 cells for the phase's own service,
 *     6 for the coordinator right after it recorded the phase, before or while it publishes).
 */
import { randomUUID } from "node:crypto";
import { startWriter, type Writer } from "@rvss/writer-sdk";
import { SERVICES, startSecureNats, type NatsServer, type NatsUsers, type ServiceName } from "@rvss/testkit";
import { checkBackup } from "./checks";
import { PHASE, PHASES, holdAt, midStepTrigger, type Phase } from "./phases";
import { writeFaultTable, type FaultRow } from "./report";
import { SHARES, datasetOf, startFaultSystem, storageDirs, until, type FaultSystem } from "./system";

type Moment = "queued" | "mid-step";
interface Cell {
  service: ServiceName;
  phase: Phase;
  moment: Moment;
  svm: string;
}

const cells: Cell[] = [
  ...SERVICES.flatMap((service) => PHASES.map((phase) => ({ service, phase, moment: "queued" as const }))),
  ...PHASES.map((phase) => ({ service: PHASE[phase].owner, phase, moment: "mid-step" as const })),
  ...PHASES.map((phase) => ({ service: "coordinator" as const, phase, moment: "mid-step" as const })),
].map((c, i) => ({ ...c, svm: `m${String(i + 1).padStart(2, "0")}` }));

let nats: NatsServer;
let users: NatsUsers;
let sys: FaultSystem;
const rows: FaultRow[] = [];

beforeAll(async () => {
  // Each cell's writer is granted its own SVM's shares.
  ({ nats, users } = await startSecureNats(
    undefined,
    cells.map((c) => `${c.svm}=${SHARES.map((s) => `${c.svm}/${s.share}`).join(",")}`),
  ));
  // Mid-step cells copy bigger files, so a kill at the first change on disk lands inside the work.
  const big = new Set(cells.filter((c) => c.moment === "mid-step").map((c) => c.svm));
  sys = await startFaultSystem({
    natsUrl: nats.url,
    users,
    svms: cells.map((c) => c.svm),
    fileBytes: (svm) => (big.has(svm) ? 4 * 1024 * 1024 : 64 * 1024),
  });
}, 60_000);

afterAll(async () => {
  writeFaultTable("services-x-phases", rows);
  await sys?.stop();
  await nats?.dispose();
});

/** What breaking a cell left: the backup (or the request ID of the call that died) and when the kill came. */
interface Broken {
  killedAt: number;
  backupId?: string;
  requestId?: string;
}

/** Holds the set where the cell wants it and kills the service. */
async function breakCell(c: Cell, writerAsked: { fire?: () => void }): Promise<Broken> {
  const dataset = datasetOf(c.svm);
  if (c.moment === "queued") {
    const held = await holdAt(sys, c.svm, c.phase, dataset);
    const killedAt = Date.now();
    await sys.services[c.service].kill();
    return { killedAt, backupId: held.backupId };
  }
  const arm = () =>
    midStepTrigger(sys, c.svm, c.service, c.phase, { storageDirs: storageDirs(sys.dir, c.svm), writerAsked });
  const killWhen = (fired: Promise<void>) =>
    fired.then(async () => {
      const killedAt = Date.now();
      await sys.services[c.service].kill();
      return killedAt;
    });
  if (c.service === "coordinator" && c.phase === "resolve") {
    // The compare-and-set that starts the set happens inside CreateBackup: the call dies with the
    // coordinator, and the client asks again with the same request ID.
    const trigger = arm();
    try {
      await trigger.armed;
      const requestId = randomUUID();
      const killed = killWhen(trigger.fired);
      await sys.client.createBackup({ dataset, requestId }).catch(() => undefined);
      return { killedAt: await killed, requestId };
    } finally {
      trigger.stop();
    }
  }
  const before = PHASES[PHASES.indexOf(c.phase) - (c.service === "coordinator" ? 1 : 0)]!;
  const held = await holdAt(sys, c.svm, before, dataset);
  const trigger = arm();
  try {
    await trigger.armed;
    const killed = killWhen(trigger.fired);
    sys.services[PHASE[before].owner].resume();
    return { killedAt: await killed, backupId: held.backupId };
  } finally {
    trigger.stop();
  }
}

test.each(cells)("$service killed while $phase is in flight ($moment)", async (c) => {
  const writerAsked: { fire?: () => void } = {};
  const ask = async () => {
    writerAsked.fire?.();
    return { detail: "ok" };
  };
  const writer: Writer = await startWriter({
    servers: nats.url,
    ...users.writerLogin(c.svm),
    name: `writer-${c.svm}`,
    svm: c.svm,
    shares: SHARES.map((s) => ({ share: s.share })),
    checkpoint: ask,
    thaw: async () => undefined,
    autoRecover: ask,
  });
  const row: FaultRow = {
    cell: `${c.service} × ${c.phase} (${c.moment})`,
    fault: `kill -9 ${c.service}`,
    phase: c.phase,
    outcome: "",
    problems: [],
  };
  rows.push(row);
  try {
    const broken = await breakCell(c, writerAsked);
    await sys.restart(c.service);
    const readyAt = Date.now();
    for (const s of Object.values(sys.services)) s.resume();
    const backupId =
      broken.backupId ?? (await sys.client.createBackup({ dataset: datasetOf(c.svm), requestId: broken.requestId })).id;
    const setId = await until("the set of the backup", () => sys.setOf(backupId, c.svm));
    const next = await until("the set's next step event after the kill", async () =>
      sys.events.of(setId).find((e) => e.receivedAt > broken.killedAt),
    );
    // Resumed: the service is ready again and the set has moved on.
    row.resumeMs = Math.max(readyAt, next.receivedAt) - broken.killedAt;
    row.problems = await checkBackup(sys, backupId, { writers: true });
    const b = await sys.backup(backupId);
    row.outcome = row.problems.length === 0 ? `${b?.state}, clean` : `${b?.state}, ${row.problems.length} problem(s)`;
  } catch (err) {
    row.outcome = `error: ${(err as Error).message.slice(0, 60)}`;
    throw err;
  } finally {
    // A failed cell must not leave the next one without a service.
    for (const s of Object.values(sys.services)) {
      s.resume();
      if (s.exited()) await sys.restart(s.name);
    }
    await writer.stop();
  }
  expect(row.problems).toEqual([]);
});
