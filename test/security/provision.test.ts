/**
 * Provisioning is its own step, against a real nats-server whose only users are rvss's identities:
 * `rvss provision` as the provisioner creates every stream, consumer and bucket and a second run
 * changes nothing; a service's identity is refused, naming the stream; a service that only binds
 * fails at start on a server nobody provisioned, saying to run `rvss provision`, and starts after it.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  COMMAND_STREAMS,
  COORDINATOR_EVENTS_CONSUMER,
  COORDINATOR_TIMERS_CONSUMER,
  DLQ_STREAM,
  AUDIT_STREAM,
  EVENTS_STREAM,
  PHASE_CONSUMERS,
  STATE_BUCKET,
  TIMERS_STREAM,
  WRITERS_BUCKET,
  type Phase,
} from "@rvss/core";
import { natsConnectOptions, type Provisioned } from "@rvss/bus";
import {
  NatsServer,
  createNatsUsers,
  provisionAs,
  removeTree,
  startService,
  type NatsUserName,
  type NatsUsers,
} from "@rvss/testkit";
import { rvss } from "../e2e/cli";

let dir: string;
let users: NatsUsers;
const servers: NatsServer[] = [];

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sec-provision-"));
  users = createNatsUsers(path.join(dir, "users"));
});

afterAll(async () => {
  for (const s of servers) await s.dispose();
  await removeTree(dir);
});

/** A new nats-server with rvss's users and nothing provisioned. */
async function server(): Promise<NatsServer> {
  const s = await NatsServer.start({ config: users.config });
  servers.push(s);
  return s;
}

/** The CLI as `user`, with no context of a running `rvss up` to fall back on. */
const as = (user: NatsUserName, nats: NatsServer, args: string[], env: Record<string, string> = {}) =>
  rvss(["provision", ...args], { RVSS_HOME: path.join(dir, "home"), NATS_URL: nats.url, ...users.env(user), ...env });

/** Every stream's name, as the provisioner sees them. */
async function streams(nats: NatsServer): Promise<string[]> {
  const nc = await connect({ servers: nats.url, ...natsConnectOptions(credentials("provisioner"), "provisioner") });
  try {
    const names: string[] = [];
    for await (const s of (await jetstreamManager(nc)).streams.list()) names.push(s.config.name);
    return names.sort();
  } finally {
    await nc.close();
  }
}

const credentials = (user: NatsUserName) => ({ user, passwordFile: users.passwordFile(user) });

const phases = Object.keys(COMMAND_STREAMS) as Phase[];
const EVERYTHING = [
  ...[EVENTS_STREAM, ...phases.map((p) => COMMAND_STREAMS[p]), TIMERS_STREAM, DLQ_STREAM, AUDIT_STREAM].map((name) => [
    "stream",
    name,
  ]),
  ...phases.map((p) => ["consumer", `${COMMAND_STREAMS[p]}/${PHASE_CONSUMERS[p]}`]),
  ["consumer", `${EVENTS_STREAM}/${COORDINATOR_EVENTS_CONSUMER}`],
  ["consumer", `${TIMERS_STREAM}/${COORDINATOR_TIMERS_CONSUMER}`],
  ["bucket", STATE_BUCKET],
  ["bucket", WRITERS_BUCKET],
];

const results = (stdout: string): string[][] =>
  (JSON.parse(stdout) as Provisioned[]).map((p) => [p.kind, p.name, p.result, ...p.changed]);

test("rvss provision as the provisioner creates everything; a second run changes nothing; a new setting updates", async () => {
  const nats = await server();
  const first = await as("provisioner", nats, ["-o", "json"]);
  expect([first.code, first.stderr]).toEqual([0, ""]);
  expect(results(first.stdout)).toEqual(EVERYTHING.map((r) => [...r, "created"]));
  expect(await streams(nats)).toEqual(
    [
      ...EVERYTHING.filter(([k]) => k === "stream").map(([, n]) => n),
      `KV_${STATE_BUCKET}`,
      `KV_${WRITERS_BUCKET}`,
    ].sort(),
  );

  const again = await as("provisioner", nats, []);
  expect(again.code).toBe(0);
  const lines = again.stdout.trim().split("\n");
  expect(lines[0]).toMatch(/^KIND\s+NAME\s+RESULT$/);
  expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual(EVERYTHING.map((r) => [...r, "unchanged"]));

  // The services' settings are the provisioner's to apply: a longer ack wait updates each work queue's durable.
  const longer = await as("provisioner", nats, ["-o", "json"], { RVSS_ACK_WAIT_MS: "45000" });
  expect(longer.code).toBe(0);
  expect(results(longer.stdout)).toEqual(
    EVERYTHING.map((r) => (r[0] === "consumer" ? [...r, "updated", "ack_wait"] : [...r, "unchanged"])),
  );
});

test.each(["coordinator", "snapshot-executor", "viewer"] as const)(
  "rvss provision as %s is refused, naming the stream and what NATS said, and creates nothing",
  async (user) => {
    const nats = await server();
    const r = await as(user, nats, []);
    expect([r.code, r.stdout]).toEqual([1, ""]);
    expect(r.stderr).toMatch(
      new RegExp(
        `^rvss: NATS at ${nats.url} refused to (create|read) stream RVSS_\\w+: .*Permissions Violation for Publish to "\\$JS\\.API\\.STREAM\\.(CREATE|INFO)\\.RVSS_\\w+".*run rvss provision as the NATS user provisioner`,
      ),
    );
    expect(await streams(nats)).toEqual([]);
  },
);

test("a service that only binds fails at start on an unprovisioned server with the hint, and starts once provisioned", async () => {
  const nats = await server();
  // Its own NATS user: by default (RVSS_PROVISION=auto) it only binds.
  const env = {
    NATS_URL: nats.url,
    RVSS_FILER_CONFIG: "/nonexistent/filer.json",
    ...users.env("auto-recovery-notifier"),
  };
  await expect(startService("auto-recovery-notifier", env)).rejects.toThrow(
    new RegExp(
      `exited during start-up: .*rvss is not provisioned on NATS at ${nats.url}: no stream ${EVENTS_STREAM}, .*Run rvss provision as the NATS user provisioner first`,
    ),
  );
  // Told to provision, its identity is refused as the CLI's is.
  await expect(startService("auto-recovery-notifier", { ...env, RVSS_PROVISION: "true" })).rejects.toThrow(
    /refused to create stream RVSS_EVENTS: .*Permissions Violation/,
  );
  expect(await streams(nats)).toEqual([]);

  const done = await provisionAs(users, { NATS_URL: nats.url });
  expect(done.every((p) => p.result === "created")).toBe(true);
  const notifier = await startService("auto-recovery-notifier", env);
  try {
    expect(notifier.exited()).toBe(false);
  } finally {
    await notifier.stop();
  }
});
