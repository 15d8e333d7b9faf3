/**
 * Velero-shaped metrics after a few real backups and a restore: derived from the durable records,
 * so a second coordinator replica and a restarted one export the same figures. The Grafana
 * dashboard and the Prometheus rules may name only metrics the services export.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { RvssClient } from "@rvss/client";
import { BackupState, type Backup } from "@rvss/proto";
import {
  SERVICES,
  createSampleFiler,
  freePort,
  removeTree,
  startRvss,
  startSecureNats,
  startService,
  testPki,
  type NatsServer,
  type NatsUsers,
  type RvssProcesses,
  type SampleFiler,
  type ServiceProcess,
} from "@rvss/testkit";

const chart = path.join(__dirname, "..", "..", "deploy", "helm", "rvss", "files");

let dir: string;
let nats: NatsServer;
let filer: SampleFiler;
let system: RvssProcesses;
let env: { NATS_URL: string; RVSS_FILER_CONFIG: string };
let users: NatsUsers;
const extra: ServiceProcess[] = [];

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-metrics-"));
  filer = await createSampleFiler(dir);
  ({ nats, users } = await startSecureNats(dir));
  env = { NATS_URL: nats.url, RVSS_FILER_CONFIG: filer.configPath };
  system = await startRvss(env, { natsUsers: users });
}, 120_000);

afterAll(async () => {
  await Promise.all(extra.map((p) => p.stop()));
  await system?.stop();
  await nats?.dispose();
  await removeTree(dir);
});

function scrape(port: number): Promise<string> {
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

/** The sample lines of the named metrics, as exported. */
function samples(text: string, prefix: RegExp): string[] {
  return text.split("\n").filter((l) => !l.startsWith("#") && prefix.test(l));
}

async function finished(client: RvssClient, b: Backup): Promise<Backup> {
  for (;;) {
    const now = await client.getBackup(b.id);
    if (now.state !== BackupState.BACKUP_STATE_RUNNING) return now;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const FIGURES = /^rvss_(backup|restore)_/;

test("backup and restore figures come from the records: the same on a second replica and after a restart", async () => {
  const client = new RvssClient({ address: system.grpcAddr, auth: testPki().clientAuth() });
  const started = Date.now() / 1000;
  const states: BackupState[] = [];
  for (const files of [filer.files, ["no-such-vm.vhdx"], filer.files, filer.files]) {
    const b = await client.createBackup({ dataset: [{ svm: filer.svm, share: filer.share, files }] });
    states.push((await finished(client, b)).state);
  }
  expect(states).toEqual([
    BackupState.BACKUP_STATE_COMPLETED,
    BackupState.BACKUP_STATE_FAILED,
    BackupState.BACKUP_STATE_COMPLETED,
    BackupState.BACKUP_STATE_COMPLETED,
  ]);
  const [last] = await client.listBackups();
  await client.restore({ backupId: last!.id, target: { kind: { $case: "directory", value: path.join(dir, "r") } } });
  client.close();

  const text = await scrape(system.services.coordinator.healthPort);
  const figures = samples(text, FIGURES);
  console.log(`scrape of the coordinator after 4 backups and a restore:\n${samples(text, /^rvss_/).join("\n")}`);
  const value = (line: string): number => Number(figures.find((l) => l.startsWith(line + " "))!.split(" ")[1]);
  // Backups carry Velero's schedule label too: "" for those nobody scheduled.
  const backups = `{svm="${filer.svm}",schedule=""}`;
  const svm = `{svm="${filer.svm}"}`;
  expect(value(`rvss_backup_attempt_total${backups}`)).toBe(4);
  expect(value(`rvss_backup_success_total${backups}`)).toBe(3);
  expect(value(`rvss_backup_failure_total${backups}`)).toBe(1);
  expect(value(`rvss_backup_partial_failure_total${backups}`)).toBe(0);
  expect(value(`rvss_backup_last_status${backups}`)).toBe(1);
  expect(value(`rvss_backup_last_successful_timestamp${backups}`)).toBeGreaterThanOrEqual(Math.floor(started));
  expect(value(`rvss_backup_duration_seconds_count${backups}`)).toBe(4);
  expect(value(`rvss_restore_attempt_total${svm}`)).toBe(1);
  expect(value(`rvss_restore_success_total${svm}`)).toBe(1);
  expect(samples(text, /^rvss_queue_depth\{/)).toHaveLength(5);
  expect(samples(text, /^rvss_dead_letters /)).toEqual(["rvss_dead_letters 0"]);
  expect(samples(text, /^rvss_nats_connected /)).toEqual(["rvss_nats_connected 1"]);
  // Default Node metrics keep their standard names.
  expect(text).toMatch(/^process_cpu_seconds_total /m);
  expect(text).not.toMatch(/rvss_process_/);

  // A second replica reads the same records.
  const second = await startService("coordinator", {
    ...env,
    ...users.env("coordinator"),
    RVSS_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
  });
  extra.push(second);
  expect(samples(await scrape(second.healthPort), FIGURES)).toEqual(figures);
  // A restarted coordinator lost nothing.
  await system.services.coordinator.stop();
  system.services.coordinator = await startService("coordinator", {
    ...env,
    ...users.env("coordinator"),
    RVSS_GRPC_ADDR: system.grpcAddr,
  });
  expect(samples(await scrape(system.services.coordinator.healthPort), FIGURES)).toEqual(figures);
}, 120_000);

/** Metric names a PromQL expression reads (not functions, keywords, labels or Grafana variables). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\$\w+/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  const keywords = new Set(["and", "or", "unless", "bool", "offset"]);
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)]
    .filter((m) => m[2] === undefined && !keywords.has(m[1]!))
    .map((m) => m[1]!);
}

test("the dashboard's queries and the alert rules name only metrics the services export", async () => {
  const exported = new Set<string>();
  for (const s of SERVICES) {
    for (const m of (await scrape(system.services[s].healthPort)).matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const suffixes =
        m[2] === "histogram" ? ["_bucket", "_sum", "_count"] : m[2] === "summary" ? ["_sum", "_count", ""] : [""];
      for (const x of suffixes) exported.add(m[1]! + x);
    }
  }
  const dashboard = JSON.parse(fs.readFileSync(path.join(chart, "grafana-dashboard.json"), "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const dashboardExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  const ruleExprs = [
    ...fs.readFileSync(path.join(chart, "prometheus-rules.yaml"), "utf8").matchAll(/^\s+expr: (.+)$/gm),
  ].map((m) => m[1]!);
  expect(dashboardExprs.length).toBeGreaterThanOrEqual(10);
  expect(ruleExprs).toHaveLength(8);
  const named = [...dashboardExprs, ...ruleExprs].flatMap(metricNames);
  expect(named).toContain("rvss_backup_last_successful_timestamp");
  expect(named.filter((n) => !exported.has(n))).toEqual([]);
  // The parser sees through functions and aggregations: a made-up name is caught.
  expect(metricNames("max by (svm) (rate(rvss_made_up_total[5m])) > 0").filter((n) => !exported.has(n))).toEqual([
    "rvss_made_up_total",
  ]);
});
