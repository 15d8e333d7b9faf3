import {
  NATS_IDENTITIES,
  SERVICE_IDENTITIES,
  inboxPrefixOf,
  natsAuthorization,
  natsPermissions,
  natsUsers,
  parseWriterGrant,
  phaseEventTypes,
  writerIdentity,
  writerPermissions,
} from "./nats-permissions";
import { writerKey, writerKeyParts } from "./wire";

const COMMANDS = /^rvss\.v1\.cmd\./;

describe("natsPermissions", () => {
  test.each(NATS_IDENTITIES)("%s has explicit allow lists (an empty one would allow everything)", (id) => {
    const p = natsPermissions(id);
    expect(p.publish.allow.length).toBeGreaterThan(0);
    expect(p.subscribe.allow).toContain(`${inboxPrefixOf(id)}.>`);
    expect(p.subscribe.allow).not.toContain("_INBOX.>");
  });

  test.each([...SERVICE_IDENTITIES, "viewer" as const])(
    "%s may not create, delete, purge or reconfigure a stream",
    (id) => {
      const p = natsPermissions(id);
      expect(p.publish.deny).toEqual(
        expect.arrayContaining([
          "$JS.API.STREAM.CREATE.>",
          "$JS.API.STREAM.DELETE.>",
          "$JS.API.STREAM.PURGE.>",
          "$JS.API.STREAM.UPDATE.>",
          "$JS.API.CONSUMER.DURABLE.CREATE.>",
        ]),
      );
      expect(p.publish.allow.filter((s) => /^\$JS\.API\.(STREAM\.CREATE|CONSUMER\.DURABLE\.CREATE)\./.test(s))).toEqual(
        [],
      );
      expect(p.publish.allow.some((s) => s === "$JS.API.>" || s === ">")).toBe(false);
    },
  );

  test("only the coordinator may publish commands", () => {
    for (const id of NATS_IDENTITIES) {
      const mayCommand = natsPermissions(id).publish.allow.some((s) => COMMANDS.test(s));
      expect([id, mayCommand]).toEqual([id, id === "coordinator"]);
    }
  });

  test("a phase's service publishes only the events its steps report, and pulls only its own queue", () => {
    const exec = natsPermissions("snapshot-executor").publish.allow;
    expect(phaseEventTypes("executor")).toEqual(expect.arrayContaining(["shadowCopiesCreated", "restoreFinished"]));
    expect(exec).toContain("rvss.v1.evt.*.*.shadow_copies_created");
    expect(exec).toContain("rvss.v1.bkp.*.restore_finished");
    expect(exec).not.toContain("rvss.v1.evt.*.*.shares_resolved");
    // Clones and restores report progress while they run; nothing else does.
    expect(exec).toEqual(expect.arrayContaining(["rvss.v1.evt.*.*.step_progress", "rvss.v1.bkp.*.step_progress"]));
    expect(phaseEventTypes("discovery")).not.toContain("stepProgress");
    expect(exec.some((s) => s.startsWith("rvss.v1.evt.>"))).toBe(false);
    expect(exec).toContain("$JS.API.CONSUMER.MSG.NEXT.RVSS_CMD_EXECUTOR.snapshot-executor");
    expect(exec.filter((s) => s.startsWith("$JS.API.CONSUMER.MSG.NEXT.RVSS_CMD_"))).toHaveLength(1);
    expect(exec.some((s) => s.startsWith("$KV.rvss-state"))).toBe(false);
  });

  test.each([
    ["share-discovery", "discovery", ["rvss.v1.evt.*.*.shares_rejected"]],
    ["snapshot-executor", "executor", ["rvss.v1.evt.*.*.step_progress", "rvss.v1.bkp.*.step_progress"]],
    ["auto-recovery-notifier", "notifier", ["rvss.v1.evt.*.*.writers_thawed"]],
  ] as const)("%s reports only its own steps' failures, and what else its steps publish", (id, phase, also) => {
    const allow = natsPermissions(id).publish.allow;
    const failures = allow.filter((s) => /step_failed$/.test(s));
    expect(failures).toEqual([
      `rvss.v1.evt.*.*.${phase}_step_failed`,
      `rvss.v1.bkp.*.${phase}_step_failed`,
      `rvss.v1.sys.*.${phase}_step_failed`,
    ]);
    expect(allow).toEqual(expect.arrayContaining([...also]));
  });

  test("query answerers may respond; writers answer only their own requests", () => {
    expect(natsPermissions("share-discovery")).toMatchObject({ allowResponses: true });
    expect(natsPermissions("coordinator")).toMatchObject({ allowResponses: false });
    const w = writerPermissions({ writerId: "w1", shares: null });
    expect(w.subscribe.allow).toEqual(["_INBOX_writer-w1.>", "rvss.v1.writer.w1.*"]);
    expect(w.publish.allow).toContain("$KV.rvss-writers.writer.w1.>");
    expect(w.publish.allow.filter((s) => s.startsWith("rvss."))).toEqual([]);
  });

  test("a writer granted shares may register for those shares only", () => {
    const w = writerPermissions(parseWriterGrant("w1=VS1/Share1,vs1/share.2"));
    expect(w.publish.allow.filter((s) => s.startsWith("$KV."))).toEqual([
      "$KV.rvss-writers.writer.w1.vs1.share1",
      "$KV.rvss-writers.writer.w1.vs1.share=2E2",
    ]);
    // The key a writer puts for a share, whatever case it spells it in.
    expect(writerKey("w1", "vs1", "SHARE1")).toBe("writer.w1.vs1.share1");
    expect(writerKeyParts("writer.w1.vs1.share=2E2")).toEqual({ writerId: "w1", svm: "vs1", share: "share=2E2" });
    expect(writerKeyParts("writer.w1")).toBeNull();
  });

  test.each([
    ["=vs1/share1", /needs a writer ID/],
    ["w1=", /"" is not <svm>\/<share>/],
    ["w1=vs1", /"vs1" is not <svm>\/<share>/],
    ["w1=vs1/share1,vs1/a/b", /"vs1\/a\/b" is not <svm>\/<share>/],
  ])("writer grant %s is refused, naming what is wrong", (spec, why) => {
    expect(() => parseWriterGrant(spec)).toThrow(why);
  });
});

test("only the coordinator (set events) and the viewer (restore progress) subscribe beyond inbox and queries", () => {
  const subscribes = (id: (typeof NATS_IDENTITIES)[number]) =>
    natsPermissions(id).subscribe.allow.filter((s) => s !== `${inboxPrefixOf(id)}.>` && !s.startsWith("rvss.v1.req."));
  expect(Object.fromEntries(NATS_IDENTITIES.map((id) => [id, subscribes(id)]))).toEqual({
    provisioner: [],
    coordinator: ["rvss.v1.evt.*.*.*"],
    "share-discovery": [],
    "snapshot-executor": [],
    "auto-recovery-notifier": [],
    viewer: ["rvss.v1.bkp.*.step_progress"],
  });
});

test("natsUsers: every rvss identity, then one user per writer ID bound to that ID", () => {
  const users = natsUsers((user) => `pw-${user}`, [parseWriterGrant("orders.db")]);
  expect(users.map((u) => u.user)).toEqual([...NATS_IDENTITIES, "writer-orders.db"]);
  expect(users.at(-1)).toEqual({
    user: writerIdentity("orders.db"),
    password: "pw-writer-orders.db",
    permissions: writerPermissions({ writerId: "orders.db", shares: null }),
  });
  // The writer ID is one subject token, escaped as wire.ts escapes it.
  expect(users.at(-1)!.permissions.subscribe.allow).toContain("rvss.v1.writer.orders=2Edb.*");
});

test("natsAuthorization renders every user with its lists; $NAME passwords come from the environment", () => {
  const text = natsAuthorization([
    { user: "coordinator", password: "$RVSS_COORDINATOR_PASSWORD", permissions: natsPermissions("coordinator") },
    { user: "share-discovery", password: "pw", permissions: natsPermissions("share-discovery") },
  ]);
  expect(text).toMatch(/^authorization \{\n {2}users: \[/);
  expect(text).toContain("password: $RVSS_COORDINATOR_PASSWORD\n");
  expect(text).toContain('password: "pw"');
  expect(text).toContain('"rvss.v1.cmd.discovery.>"');
  expect(text.match(/allow_responses: true/g)).toHaveLength(1);
});
