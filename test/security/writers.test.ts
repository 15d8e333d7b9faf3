/**
 * Application writers answer only for themselves, against a real nats-server whose only users are
 * rvss's identities and two writers' (writer-a for any share, writer-b granted vs1/share2 only, as
 * `rvss nats-config --writer a --writer b=vs1/share2` makes them). Writers are addressed by writer
 * ID, so each user is bound to one: writer A's credentials register and answer A, and cannot take
 * B's requests, register as B, nor publish a command or an event; B cannot register for a share it
 * was not granted.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsConnectOptions } from "@rvss/bus";
import {
  COMMAND_STREAMS,
  EVENTS_STREAM,
  WRITERS_BUCKET,
  WRITER_SUBJECTS,
  commandSubject,
  setEventSubject,
  writerIdentity,
  writerKey,
  writerSubject,
  writerSubjects,
} from "@rvss/core";
import { WriterRegistration, WriterRequest, WriterResponse } from "@rvss/proto";
import {
  provisionAs,
  removeTree,
  startSecureNats,
  testPki,
  type NatsServer,
  type NatsUserName,
  type NatsUsers,
} from "@rvss/testkit";
import { startWriter, type Writer } from "@rvss/writer-sdk";

let dir: string;
let nats: NatsServer;
let users: NatsUsers;
const open: NatsConnection[] = [];
const writers: Writer[] = [];

const credentials = (user: NatsUserName) => ({ user, passwordFile: users.passwordFile(user) });
/** The server serves TLS only. */
const tls = { caFile: testPki().ca };

async function connectAs(user: NatsUserName): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, ...natsConnectOptions(credentials(user), user), tls, timeout: 2_000 });
  open.push(nc);
  return nc;
}

function writerA(writerId: string): Promise<Writer> {
  return startWriter({
    servers: nats.url,
    tls,
    credentials: credentials(writerIdentity("a")),
    writerId,
    name: "orders-db",
    svm: "vs1",
    shares: [{ share: "share1" }],
    checkpoint: async () => ({ detail: "checkpoint_id=7" }),
    thaw: async () => undefined,
    autoRecover: async () => undefined,
  }).then((w) => (writers.push(w), w));
}

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sec-writers-"));
  ({ nats, users } = await startSecureNats(dir, ["a", "b=vs1/share2"]));
  await provisionAs(users, { NATS_URL: nats.url });
});

afterAll(async () => {
  for (const w of writers) await w.stop();
  for (const nc of open) await nc.close();
  await nats.dispose();
  await removeTree(dir);
});

const permissionDenied = /Permissions Violation/;

test("writer A logs in as itself, registers and answers the notifier's requests to A", async () => {
  await writerA("a");
  const notifier = await connectAs("auto-recovery-notifier");
  const kv = await new Kvm(jetstream(notifier)).open(WRITERS_BUCKET);
  const entry = await kv.get(writerKey("a", "vs1", "share1"));
  expect(WriterRegistration.decode(entry!.value)).toMatchObject({ writerId: "a", name: "orders-db", svm: "vs1" });
  const request = WriterRequest.encode({
    requestId: "r1",
    svm: "vs1",
    setId: "s1",
    backupId: "b1",
    step: { $case: "checkpoint", value: { shares: ["share1"], freezeWindowMs: 5_000 } },
  }).finish();
  const reply = await notifier.request(writerSubject("a", "checkpoint"), request, { timeout: 5_000 });
  expect(WriterResponse.decode(reply.data)).toEqual({ ok: true, reason: "", detail: "checkpoint_id=7" });
  expect(nats.log()).not.toMatch(/Violation/);
});

test("writer A's credentials cannot subscribe to writer B's requests, nor to every writer's", async () => {
  const a = await connectAs(writerIdentity("a"));
  for (const subject of [writerSubjects("b"), ...WRITER_SUBJECTS]) {
    const sub = a.subscribe(subject);
    await expect(sub.closed).resolves.toThrow(permissionDenied);
  }
  // The SDK says so at start rather than waiting for requests that never come.
  await expect(writerA("b")).rejects.toThrow(/NATS refused writer b its requests.*answers for another writer ID/);
});

test("writer A's credentials cannot register as B, publish a command or an event", async () => {
  const js = jetstream(await connectAs(writerIdentity("a")));
  const kv = await new Kvm(js).open(WRITERS_BUCKET);
  await expect(kv.put(writerKey("b", "vs1", "share2"), new Uint8Array([1]))).rejects.toThrow(permissionDenied);
  await expect(
    js.publish(commandSubject("executor", "vs1", "deleteShadowCopies"), new Uint8Array([1]), { msgID: "forged-cmd" }),
  ).rejects.toThrow(permissionDenied);
  await expect(
    js.publish(setEventSubject("vs1", "s1", "stepFailed"), new Uint8Array([1]), { msgID: "forged-evt" }),
  ).rejects.toThrow(permissionDenied);
  const jsm = await jetstream(await connectAs("provisioner")).jetstreamManager();
  expect((await jsm.streams.info(COMMAND_STREAMS.executor)).state.messages).toBe(0);
  expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(0);
});

test("writer B registers for the share it was granted, and is refused another, naming the share", async () => {
  const writerB = (share: string) =>
    startWriter({
      servers: nats.url,
      tls,
      credentials: credentials(writerIdentity("b")),
      writerId: "b",
      name: "ledger-db",
      svm: "vs1",
      shares: [{ share }],
      checkpoint: async () => undefined,
      thaw: async () => undefined,
      autoRecover: async () => undefined,
    });
  await expect(writerB("share1")).rejects.toThrow(
    /NATS refused writer b its registration for vs1\/share1.*not granted that share/,
  );
  const kv = await new Kvm(jetstream(await connectAs(writerIdentity("b")))).open(WRITERS_BUCKET);
  await expect(kv.put(writerKey("b", "vs1", "share1"), new Uint8Array([1]))).rejects.toThrow(permissionDenied);
  writers.push(await writerB("Share2"));
  const notifier = await new Kvm(jetstream(await connectAs("auto-recovery-notifier"))).open(WRITERS_BUCKET);
  expect(WriterRegistration.decode((await notifier.get(writerKey("b", "vs1", "share2")))!.value)).toMatchObject({
    writerId: "b",
    name: "ledger-db",
  });
});

test("a writer that logs in without a writer ID is refused before it connects", async () => {
  await expect(
    startWriter({
      servers: nats.url,
      tls,
      credentials: credentials(writerIdentity("a")),
      name: "orders-db",
      svm: "vs1",
      shares: [{ share: "share1" }],
      checkpoint: async () => undefined,
      thaw: async () => undefined,
      autoRecover: async () => undefined,
    }),
  ).rejects.toThrow(/logs in to NATS but has no writer ID/);
});
