/**
 * NATS least privilege against a real nats-server whose only users are rvss's identities, with the
 * permissions core derives from the wire names: anonymous clients are refused, each service may do
 * its own work and nothing else; only the provisioner changes streams.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  COMMAND_STREAMS,
  EVENTS_STREAM,
  backupEventSubject,
  commandSubject,
  setEventSubject,
  svmKey,
  NATS_IDENTITIES,
  inboxPrefixOf,
  natsAuthorization,
  natsPermissions,
  svmEventsSubject,
  svmReaderPermissions,
  writerIdentity,
  writerSubjects,
  type NatsIdentity,
} from "@rvss/core";
import { Bus, natsConnectOptions } from "@rvss/bus";
import { NatsServer, createNatsUsers, removeTree, type NatsUsers } from "@rvss/testkit";
import { rvss } from "../e2e/cli";

const log = pino({ level: "silent" });
let dir: string;
let nats: NatsServer;
let users: NatsUsers;
const buses: Bus[] = [];

/** Connects as `identity`: the provisioner provisions, a service binds as at start (the provisioner made it all first). */
async function as(identity: NatsIdentity): Promise<Bus> {
  const env = users.env(identity);
  const bus = await Bus.connect({
    servers: nats.url,
    name: identity,
    log,
    connectTimeoutMs: 2_000,
    auth: natsConnectOptions({ user: env.RVSS_NATS_USER!, passwordFile: env.RVSS_NATS_PASSWORD_FILE! }, identity),
  });
  buses.push(bus);
  if (identity === "provisioner") await bus.provision();
  else if (identity !== "viewer") await bus.bind();
  return bus;
}

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sec-nats-"));
  users = createNatsUsers(path.join(dir, "users"));
  nats = await NatsServer.start({ config: users.config });
  // The provisioner creates every stream, consumer and bucket; the services then only bind.
  await as("provisioner");
});

afterAll(async () => {
  for (const b of buses) await b.close();
  await nats.dispose();
  await removeTree(dir);
});

const permissionDenied = /Permissions Violation|permission/i;

test("an anonymous client is refused", async () => {
  await expect(connect({ servers: nats.url, timeout: 2_000, reconnect: false })).rejects.toThrow(/Authorization/i);
});

test("a wrong password is refused", async () => {
  await expect(
    connect({ servers: nats.url, user: "coordinator", pass: "guess", timeout: 2_000, reconnect: false }),
  ).rejects.toThrow(/Authorization/i);
});

test.each(["coordinator", "share-discovery", "snapshot-executor", "auto-recovery-notifier"] as const)(
  "%s binds to what the provisioner made without changing it",
  async (identity) => {
    const before = await (await as("provisioner")).jsm.streams.info(EVENTS_STREAM);
    await as(identity);
    const after = await (await as("provisioner")).jsm.streams.info(EVENTS_STREAM);
    expect(after.config).toEqual(before.config);
  },
);

describe("the executor's identity", () => {
  test("cannot publish a command", async () => {
    const exec = await as("snapshot-executor");
    const forged = commandSubject("executor", "vs1", "deleteShadowCopies");
    await expect(exec.js.publish(forged, new Uint8Array([1]), { msgID: "forged-1" })).rejects.toThrow(permissionDenied);
    const info = await (await as("provisioner")).jsm.streams.info(COMMAND_STREAMS.executor);
    expect(info.state.messages).toBe(0);
  });

  test("cannot publish another phase's or the coordinator's events", async () => {
    const exec = await as("snapshot-executor");
    for (const subject of [
      setEventSubject("vs1", "s1", "sharesResolved"),
      setEventSubject("vs1", "s1", "setCompleted"),
      backupEventSubject("b1", "backupFinished"),
    ])
      await expect(exec.js.publish(subject, new Uint8Array([1]), { msgID: subject })).rejects.toThrow(permissionDenied);
  });

  test("publishes the events of its own steps", async () => {
    const exec = await as("snapshot-executor");
    const ack = await exec.js.publish(setEventSubject("vs1", "s1", "shadowCopiesCreated"), new Uint8Array([1]), {
      msgID: "own-1",
    });
    expect(ack.stream).toBe(EVENTS_STREAM);
  });

  test("cannot create, delete or purge a stream, nor write an SVM record", async () => {
    const exec = await as("snapshot-executor");
    await expect(exec.jsm.streams.add({ name: "EVIL", subjects: ["evil.>"] })).rejects.toThrow(permissionDenied);
    await expect(exec.jsm.streams.purge(EVENTS_STREAM)).rejects.toThrow(permissionDenied);
    await expect(exec.jsm.streams.delete(EVENTS_STREAM)).rejects.toThrow(permissionDenied);
    await expect(exec.state.create(svmKey("vs1"), { forged: true })).rejects.toThrow(permissionDenied);
  });
});

test("the coordinator's identity publishes commands and writes records", async () => {
  const co = await as("coordinator");
  const ack = await co.js.publish(commandSubject("discovery", "vs9", "resolveShares"), new Uint8Array([1]), {
    msgID: "co-1",
  });
  expect(ack.stream).toBe(COMMAND_STREAMS.discovery);
  expect(await co.state.create(svmKey("vs9"), { ok: true })).not.toBeNull();
});

test("a viewer reads events but cannot publish or change a stream", async () => {
  const env = users.env("viewer");
  const nc = await connect({
    servers: nats.url,
    ...natsConnectOptions({ user: env.RVSS_NATS_USER!, passwordFile: env.RVSS_NATS_PASSWORD_FILE! }, "viewer"),
    timeout: 2_000,
  });
  try {
    const js = jetstream(nc);
    const c = await js.consumers.get(EVENTS_STREAM);
    const m = await c.next({ expires: 2_000 });
    expect(m?.subject).toBe(setEventSubject("vs1", "s1", "shadowCopiesCreated"));
    await expect(js.publish(setEventSubject("vs1", "s1", "stepFailed"), new Uint8Array([1]))).rejects.toThrow(
      permissionDenied,
    );
    const jsm = await jetstreamManager(nc);
    await expect(jsm.streams.purge(EVENTS_STREAM)).rejects.toThrow(permissionDenied);
  } finally {
    await nc.close();
  }
});

test("rvss nats-config prints a block nats-server accepts, with passwords from its environment", async () => {
  const printed = await rvss(["nats-config", "--writer", "orders-db=vs1/share1", "--writer", "any-db"]);
  expect(printed.code).toBe(0);
  // A granted writer may register for its share only; one named bare, for any, and the block says so.
  expect(printed.stdout).toContain(`"$KV.rvss-writers.writer.orders-db.vs1.share1"`);
  expect(printed.stdout).not.toContain("writer.orders-db.>");
  expect(printed.stdout).toContain(`"$KV.rvss-writers.writer.any-db.>"`);
  expect(printed.stdout).toMatch(/^# writers any-db may register for any share/m);
  const ids = [...NATS_IDENTITIES, writerIdentity("orders-db"), writerIdentity("any-db")];
  const env = Object.fromEntries(ids.map((id) => [passwordVariableOf(id), `pw-${id}`]));
  const server = await NatsServer.start({ config: printed.stdout, env });
  try {
    const nc = await connect({ servers: server.url, user: "viewer", pass: "pw-viewer", timeout: 2_000 });
    await nc.close();
    const writer = await connect({
      servers: server.url,
      user: "writer-orders-db",
      pass: "pw-writer-orders-db",
      inboxPrefix: inboxPrefixOf("writer-orders-db"),
      timeout: 2_000,
    });
    // Its own requests only.
    await expect(writer.subscribe(writerSubjects("other")).closed).resolves.toThrow(permissionDenied);
    await writer.close();
    await expect(connect({ servers: server.url, timeout: 2_000, reconnect: false })).rejects.toThrow(/Authorization/i);
  } finally {
    await server.dispose();
  }
});

/** As `rvss nats-config` names them. */
const passwordVariableOf = (id: string): string => `RVSS_NATS_PASSWORD_${id.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

test("an events reader limited to one SVM reads its events and is refused another SVM's", async () => {
  const user = (id: NatsIdentity) => ({ user: id, password: `pw-${id}`, permissions: natsPermissions(id) });
  const reader = { user: "reader-vs1", password: "pw", permissions: svmReaderPermissions("vs1", "reader-vs1") };
  const server = await NatsServer.start({
    config: natsAuthorization([user("provisioner"), user("coordinator"), reader]),
  });
  const connectAs = (name: string, pass: string) =>
    connect({ servers: server.url, user: name, pass, inboxPrefix: inboxPrefixOf(name), timeout: 2_000 });
  try {
    const prov = await Bus.connect({
      servers: server.url,
      name: "provisioner",
      log,
      auth: { user: "provisioner", pass: "pw-provisioner", inboxPrefix: inboxPrefixOf("provisioner") },
    });
    await prov.provision();
    await prov.close();
    const coNc = await connectAs("coordinator", "pw-coordinator");
    const co = jetstream(coNc);
    await co.publish(setEventSubject("vs1", "s1", "setStarted"), new Uint8Array([1]));
    await co.publish(setEventSubject("vs2", "s2", "setStarted"), new Uint8Array([2]));
    const nc = await connectAs("reader-vs1", "pw");
    const js = jetstream(nc);
    const mine = await js.consumers.get(EVENTS_STREAM, { filter_subjects: svmEventsSubject("vs1") });
    expect((await mine.next({ expires: 2_000 }))?.subject).toBe(setEventSubject("vs1", "s1", "setStarted"));
    await expect(js.consumers.get(EVENTS_STREAM, { filter_subjects: svmEventsSubject("vs2") })).rejects.toThrow(
      permissionDenied,
    );
    await nc.close();
    await coNc.close();
  } finally {
    await server.dispose();
  }
});
