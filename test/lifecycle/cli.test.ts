/**
 * The lifecycle from the CLI, as the README shows it: a schedule with a ttl and keep-last makes
 * backups, they are listed by schedule, one is deleted by name, the collector removes expired ones,
 * and bad input is refused with exit code 2 or 1 and a message naming the field.
 */
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { startSecureNats, testPki, type NatsServer, type NatsUsers } from "@rvss/testkit";
import { rvss } from "../e2e/cli";
import { datasetOf, startFaultSystem, until, type FaultSystem } from "../faults/system";

let nats: NatsServer;
let users: NatsUsers;
let sys: FaultSystem;
let env: Record<string, string>;

beforeAll(async () => {
  ({ nats, users } = await startSecureNats());
  sys = await startFaultSystem({ natsUrl: nats.url, users, svms: ["c1"], env: { RVSS_COLLECTOR_INTERVAL_MS: "1000" } });
  env = { RVSS_GRPC_ADDR: sys.env.RVSS_GRPC_ADDR!, ...testPki().clientEnv() };
}, 60_000);

afterAll(async () => {
  await sys?.stop();
  await nats?.dispose();
});

test("schedule, list by schedule, delete by name, collector expiry, all from the CLI", async () => {
  const dataset = path.join(sys.dir, "nightly.json");
  await fsp.writeFile(dataset, JSON.stringify(datasetOf("c1")));
  const created = await rvss(
    [
      "schedule",
      "create",
      "nightly",
      "--cron",
      "*/3 * * * * *",
      "--dataset",
      dataset,
      "--ttl",
      "15s",
      "--keep-last",
      "7",
    ],
    env,
  );
  expect(created.stderr).toBe("");
  expect(created.code).toBe(0);
  expect(created.stdout).toMatch(/^schedule nightly created; next tick \d{4}-/);

  const listed = await until(
    "three scheduled backups to complete",
    async () => {
      const r = await rvss(["backup", "list", "--schedule", "nightly", "-o", "wide"], env);
      return (r.stdout.match(/COMPLETED/g) ?? []).length >= 3 ? r.stdout : undefined;
    },
    30_000,
    500,
  );
  // Deleted by name first and newest first, the furthest from its ttl: on a loaded machine each CLI
  // call takes seconds, and the collector must not expire the backup before the delete reaches it.
  const completed = listed.split("\n").filter((l) => l.includes("COMPLETED"));
  const nameOf = (line: string) => /(nightly-\d{14})/.exec(line)![1]!;
  const name = nameOf(completed.at(-1)!);
  const deleted = await rvss(["backup", "delete", name, "--confirm"], env);
  expect(deleted.code).toBe(0);
  expect(deleted.stdout).toMatch(/: DELETING|: DELETED/);
  const other = nameOf(completed.at(-2)!);
  const refused = await rvss(["backup", "delete", other], env);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(`deleting backup ${other} and its snapshots needs --confirm`);

  await rvss(["schedule", "pause", "nightly"], env);
  const described = await rvss(["schedule", "describe", "nightly"], env);
  expect(described.stdout).toContain("Schedule    nightly (paused)");
  expect(described.stdout).toMatch(/fired\s+[0-9a-f-]{36}/);

  await until(
    "the deleted backup to show only with --all",
    async () => {
      const shown = (await rvss(["backup", "list", "-o", "wide"], env)).stdout;
      const all = (await rvss(["backup", "list", "--all", "-o", "wide"], env)).stdout;
      return !shown.includes(name) && all.includes(name) && /DELETED/.test(all) ? true : undefined;
    },
    30_000,
    500,
  );
  const desc = await rvss(["backup", "describe", name], env);
  expect(desc.stdout).toContain("Deletion    deleted on request, done ");

  // ttl 15 s: the collector deletes the rest but the last completed backup of c1.
  const left = await until(
    "the collector to leave one backup",
    async () => {
      // A header line, then one line per backup.
      const r = (await rvss(["backup", "list", "--schedule", "nightly", "-o", "wide"], env)).stdout
        .trim()
        .split("\n")
        .slice(1);
      return r.length === 1 ? r : undefined;
    },
    60_000,
    1000,
  );
  expect(left[0]).toMatch(/COMPLETED/);
  await sys.events.caughtUp();
  const events = sys.events.events.filter((e) => e.event.body?.$case === "backupDeleted");
  expect(
    events.some((e) => e.event.body?.$case === "backupDeleted" && /^expired: ttl 15s/.test(e.event.body.value.reason)),
  ).toBe(true);
}, 120_000);

test("bad input from the CLI: exit 2 for usage, 1 for a refusal, the field and value named", async () => {
  const bad = await rvss(["schedule", "create", "x", "--cron", "61 * * * *", "--svm", "c1", "--share", "share_a"], env);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('cron "61 * * * *" is not valid');
  const tz = await rvss(
    ["schedule", "create", "x", "--cron", "0 1 * * *", "--timezone", "Mars/Base", "--svm", "c1", "--share", "share_a"],
    env,
  );
  expect(tz.stderr).toContain('timezone "Mars/Base" is not an IANA time zone');
  const keep = await rvss(["backup", "create", "--svm", "c1", "--share", "share_a", "--keep-last=-3"], env);
  expect(keep.code).toBe(2);
  expect(keep.stderr).toContain('--keep-last "-3" must be a whole number');
  const sel = await rvss(["backup", "list", "-l", "a=b=c"], env);
  expect(sel.code).toBe(2);
  expect(sel.stderr).toContain('label selector "a=b=c" does not parse');
  const unknown = await rvss(["backup", "delete", "nope", "--confirm"], env);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('backup "nope" does not exist');
});
