/**
 * Fault suite, case 5: 10,000 malformed or truncated messages on the command subjects. Every one
 * lands in RVSS_DLQ with its reason, no service goes down, the work queues are left empty, and a
 * real backup afterwards completes. `rvss dlq` lists and shows them.
 */
import { COMMAND_STREAMS, DLQ_STREAM, commandSubject, type Phase } from "@rvss/core";
import { randomBytes, randomUUID } from "node:crypto";
import * as http from "node:http";
import { jetstream } from "@nats-io/jetstream";
import { DiscoveryCommand, Event, ExecutorCommand, NotifierCommand } from "@rvss/proto";
import { startSecureNats, type NatsServer, type NatsUsers } from "@rvss/testkit";
import { rvss } from "../e2e/cli";
import { checkBackup, crashedServices } from "./checks";
import { writeFaultTable, type FaultRow } from "./report";
import { datasetOf, startFaultSystem, until, type FaultSystem } from "./system";

const COUNT = 10_000;
const SVM = "bad1";

let nats: NatsServer;
let users: NatsUsers;
let sys: FaultSystem;
const rows: FaultRow[] = [];

beforeAll(async () => {
  ({ nats, users } = await startSecureNats());
  sys = await startFaultSystem({ natsUrl: nats.url, users, svms: [SVM] });
}, 60_000);

afterAll(async () => {
  writeFaultTable("malformed", rows);
  await sys?.stop();
  await nats?.dispose();
});

const KINDS: Record<Phase, string[]> = {
  discovery: ["resolveShares"],
  executor: [
    "createShadowCopies",
    "exposeShadowCopies",
    "sealShadowCopies",
    "finalizeShadowCopies",
    "deleteShadowCopies",
    "restoreFiles",
  ],
  notifier: ["checkpointWriters", "autoRecoverWriters", "thawWriters", "finishWriters"],
};

/** A well-formed command of each phase, to truncate or spoil. */
function goodCommand(phase: Phase): Uint8Array {
  const context = { commandId: `${randomUUID()}:create:1`, svm: SVM, setId: randomUUID(), backupId: randomUUID() };
  if (phase === "discovery")
    return DiscoveryCommand.encode({
      context,
      kind: {
        $case: "resolveShares",
        value: { shares: [{ svm: SVM, share: "share_a", files: ["vm1/x.vhdx"], vms: [] }] },
      },
    }).finish();
  if (phase === "notifier")
    return NotifierCommand.encode({ context, kind: { $case: "thawWriters", value: { writerIds: ["w"] } } }).finish();
  return ExecutorCommand.encode({ context, kind: { $case: "sealShadowCopies", value: { shadowCopies: [] } } }).finish();
}

/** The i-th bad message: random bytes, a command cut inside its context, a command without a usable context or kind, or an event. */
function badMessage(i: number, phase: Phase): Uint8Array {
  switch (i % 5) {
    case 0:
    case 1:
      return randomBytes(i % 200);
    case 2: {
      // Field 1 (the context) is first: cut anywhere inside it and its length runs past the end.
      const good = goodCommand(phase);
      return good.slice(0, 2 + (i % (good[1]! - 1)));
    }
    case 3: {
      const spoilt = [
        { commandId: "", svm: SVM, setId: randomUUID(), backupId: "" },
        { commandId: "x", svm: SVM, setId: "not-a-guid", backupId: "" },
        { commandId: "x", svm: "", setId: randomUUID(), backupId: "" },
      ];
      const context = spoilt[i % spoilt.length];
      return phase === "discovery"
        ? DiscoveryCommand.encode({ context }).finish()
        : phase === "executor"
          ? ExecutorCommand.encode({ context }).finish()
          : NotifierCommand.encode({ context }).finish();
    }
    default:
      return Event.encode({
        eventId: "e",
        time: new Date(),
        svm: SVM,
        setId: randomUUID(),
        backupId: "",
        source: "intruder",
        body: { $case: "shadowCopiesSealed", value: { shadowCopies: [] } },
      }).finish();
  }
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    http
      .get({ host: "127.0.0.1", port, path: "/healthz", timeout: 2_000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      })
      .on("error", () => resolve(false));
  });
}

test(`${COUNT.toLocaleString("en")} malformed or truncated commands are dead-lettered with a reason; every service stays up`, async () => {
  const js = jetstream(sys.nc);
  const before = (await sys.jsm.streams.info(DLQ_STREAM)).state.messages;
  const phases = Object.keys(KINDS) as Phase[];
  const started = Date.now();
  for (let i = 0; i < COUNT; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, COUNT - i) }, (_, k) => {
        const n = i + k;
        const phase = phases[n % phases.length]!;
        return js.publish(commandSubject(phase, SVM, KINDS[phase][n % KINDS[phase].length]!), badMessage(n, phase));
      }),
    );
  }
  const published = Date.now();
  await until(
    "every bad message in the dead-letter stream",
    async () => ((await sys.jsm.streams.info(DLQ_STREAM)).state.messages - before >= COUNT ? true : undefined),
    120_000,
    100,
  );
  const done = Date.now();
  rows.push({
    cell: `${COUNT} malformed commands`,
    fault: "malformed input",
    phase: "-",
    outcome: `all dead-lettered in ${done - started} ms`,
    problems: [],
  });

  for (const stream of Object.values(COMMAND_STREAMS))
    expect([stream, (await sys.jsm.streams.info(stream)).state.messages]).toEqual([stream, 0]);
  const letters = await rvss(["dlq", "list", "--limit", String(COUNT), "-o", "json"], {
    NATS_URL: sys.natsUrl,
    ...sys.users.env("viewer"),
  });
  const listed = JSON.parse(letters.stdout) as {
    total: number;
    letters: { seq: number; reason: string; subject: string; deliveryCount: number }[];
  };
  expect(listed.total - before).toBe(COUNT);
  // Each is given up at its first delivery, with what is wrong with it.
  const reasons = new Map<string, number>();
  for (const l of listed.letters) {
    expect([l.subject, l.deliveryCount, l.reason]).toEqual([
      expect.stringMatching(/^rvss\.v1\.cmd\.(discovery|executor|notifier)\.bad1\./),
      1,
      expect.stringMatching(/^cannot decode: ./),
    ]);
    const kind = /^cannot decode: ([^:]+)/.exec(l.reason)![1]!;
    reasons.set(kind, (reasons.get(kind) ?? 0) + 1);
  }
  process.stdout.write(
    `${COUNT} bad messages published in ${published - started} ms, all dead-lettered ${done - started} ms after the first; reasons:\n${[...reasons].map(([r, n]) => `  ${n}  ${r}`).join("\n")}\n`,
  );

  const shown = await rvss(["dlq", "show", String(listed.letters[2]!.seq)], {
    NATS_URL: sys.natsUrl,
    ...sys.users.env("viewer"),
  });
  expect(shown.stdout).toMatch(
    new RegExp(
      `^dead letter #${listed.letters[2]!.seq}, .*\\n  from      RVSS_CMD_\\w+ #\\d+, subject rvss\\.v1\\.cmd\\.`,
    ),
  );
  expect(shown.stdout).toMatch(/  reason    cannot decode: .+\n  message   \d+ bytes, unreadable \(/);

  expect(crashedServices(sys)).toEqual([]);
  for (const s of Object.values(sys.services)) expect([s.name, await healthy(s.healthPort)]).toEqual([s.name, true]);
  const b = await sys.client.createBackup({ dataset: datasetOf(SVM) });
  expect(await checkBackup(sys, b.id, { writers: false })).toEqual([]);
});
