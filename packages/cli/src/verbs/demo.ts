/**
 * `rvss demo`: everything on this machine with the embedded defaults. A nats-server on a free port,
 * the four services as processes, the sample filer from the ONTAP documentation, the SQLite reference
 * writer under a continuous workload, one managed backup with live progress, a restore compared byte
 * for byte (VM files) and checked for consistency (databases), a look at the filer, then everything stops.
 * Secure as `rvss up` is: mutual TLS on gRPC, and a NATS user per service and for the writer.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { RvssClient } from "@rvss/client";
import { writerIdentity } from "@rvss/core";
import { defaultConfig, loadConfig } from "@rvss/runtime";
import { BackupState } from "@rvss/proto";
import { LocalBackend } from "@rvss/storage";
import { inspectDatabase, parseCheckpoint } from "@rvss/sqlite-writer";
import {
  NatsServer,
  compareTrees,
  createNatsUsers,
  createSampleFiler,
  ensurePki,
  findNatsServer,
  removeTree,
  startRvss,
  startSqliteWriterProcess,
  type NatsUsers,
  type RvssProcesses,
  type SqliteWriterProcess,
} from "@rvss/testkit";
import { bytes, describeBackup, stateName } from "../format";
import type { Register } from "../program";
import { follow } from "./backup";

/** Databases the demo's SQLite writer keeps on the share, inside a VM directory of their own. */
const DEMO_DATABASES = ["sqlvm/orders.sqlite", "sqlvm/ledger.sqlite"];
/** The writer's ID, which its NATS user may answer for. */
const DEMO_WRITER = "sqlite-writer";

async function demo(v: { keep?: boolean; verbose?: boolean }): Promise<number> {
  const config = loadConfig();
  const secure = config.grpc.auth !== "off";
  const t0 = Date.now();
  const say = (s: string): void => console.log(s);
  if (!secure)
    say(
      "WARNING: RVSS_AUTH=off: gRPC is plaintext and NATS takes anonymous clients; anyone here may act as an admin\n",
    );
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-demo-"));
  let nats: NatsServer | null = null;
  let users: NatsUsers | null = null;
  let rvss: RvssProcesses | null = null;
  let writer: SqliteWriterProcess | null = null;
  let client: RvssClient | null = null;
  let ok = false;
  try {
    say("rvss demo: one application-consistent backup of a Hyper-V share, then a verified restore\n");
    const filer = await createSampleFiler(dir);
    say(`1. Sample filer in ${filer.root}`);
    say(
      `   SVM ${filer.svm}, volume ${filer.volume} at junction /hyperv/vm1, share ${filer.share} at /hyperv/vm1/dir1/vmdir`,
    );
    say(`   ${filer.files.length} VM files: ${filer.files.join(", ")}`);

    let natsUrl = config.natsUrl === defaultConfig().natsUrl ? undefined : config.natsUrl;
    if (natsUrl) {
      say(`2. NATS: using ${natsUrl} (NATS_URL)`);
    } else {
      findNatsServer();
      // The writer may register for the demo share only.
      users = secure
        ? createNatsUsers(path.join(dir, "nats-users"), [`${DEMO_WRITER}=${filer.svm}/${filer.share}`])
        : null;
      nats = await NatsServer.start({ storeDir: path.join(dir, "nats"), ...(users ? { config: users.config } : {}) });
      natsUrl = nats.url;
      say(`2. NATS: started nats-server with JetStream on ${natsUrl} (store ${nats.storeDir})`);
      say(
        users
          ? "   one NATS user per service and one for the writer, each allowed only its own subjects; anonymous clients refused"
          : "   NATS WITHOUT users (RVSS_AUTH=off)",
      );
    }

    const logs: string[] = [];
    rvss = await startRvss(
      {
        NATS_URL: natsUrl,
        RVSS_FILER_CONFIG: filer.configPath,
        RVSS_LOG_LEVEL: v.verbose ? "debug" : "info",
        ...(config.grpc.auth === "off" ? { RVSS_AUTH: "off" } : {}),
      },
      {
        onOutput: (name, line) => (v.verbose ? say(`   [${name}] ${line}`) : logs.push(`[${name}] ${line}`)),
        pki: ensurePki(path.join(dir, "pki")),
        ...(users ? { natsUsers: users } : {}),
      },
    );
    say(`3. Services started as separate processes: ${Object.keys(rvss.services).join(", ")} (gRPC ${rvss.grpcAddr})`);
    say(
      rvss.pki
        ? `   gRPC with mutual TLS: certificates made for this run in ${rvss.pki.dir}; the demo calls as the admin`
        : "   gRPC WITHOUT authentication (RVSS_AUTH=off)",
    );
    client = new RvssClient({
      address: rvss.grpcAddr,
      auth: rvss.pki ? rvss.pki.clientAuth() : { insecure: true },
    });
    await client.waitForReady();
    writer = await startSqliteWriterProcess({
      natsUrl,
      svm: filer.svm,
      share: filer.share,
      dir: filer.shareDir,
      databases: DEMO_DATABASES,
      rate: 200,
      name: DEMO_WRITER,
      writerId: DEMO_WRITER,
      ...(users ? { env: users.env(writerIdentity(DEMO_WRITER)) } : {}),
    });
    say(`4. SQLite reference writer running: 200 transactions/s into ${DEMO_DATABASES.join(", ")} on ${filer.share}`);
    await new Promise((r) => setTimeout(r, 1000));

    say(`\n5. Backup of ${filer.svm}/${filer.share} (listed files only), live:`);
    const created = await client.createBackup({
      dataset: [{ svm: filer.svm, share: filer.share, files: [...filer.files, ...DEMO_DATABASES] }],
      description: "rvss demo",
    });
    const b = await follow(client, created.id, (l) => say(l));
    const took = ((b.finishedAt?.getTime() ?? Date.now()) - (b.createdAt?.getTime() ?? t0)) / 1000;
    say(`\n${describeBackup(b).replace(/^/gm, "   ")}`);
    if (b.state !== BackupState.BACKUP_STATE_COMPLETED) {
      say(`\nThe backup ended ${stateName(b.state)}. Service logs:\n${logs.slice(-20).join("\n")}`);
      return 1;
    }

    const target = path.join(dir, "restore");
    say(`\n6. Restore into ${target}`);
    const r = await client.restore({ backupId: b.id, target: { kind: { $case: "directory", value: target } } });
    const diffs = await compareTrees(filer.shareDir, target, filer.files);
    say(`   ${r.files.length} files, ${bytes(r.bytes)}, checksums verified by the executor`);
    say(
      diffs.length === 0
        ? `   VM files byte-identical to the share: yes (${filer.files.length} files compared)`
        : `   DIFFERENCES:\n     ${diffs.join("\n     ")}`,
    );
    const checkpoint = parseCheckpoint(
      b.sets[0]?.writerSteps.find((w) => w.step === "checkpoint")?.report?.detail ?? "",
    );
    let consistent = Object.keys(checkpoint).length === DEMO_DATABASES.length;
    for (const db of DEMO_DATABASES) {
      const d = inspectDatabase(path.join(target, db));
      const exact = d.integrity === "ok" && d.rows === checkpoint[db] && d.maxId === checkpoint[db];
      consistent &&= exact;
      say(
        `   ${db}: integrity ${d.integrity}, ${d.rows} transactions, last id ${d.maxId} = the writer's checkpoint ${checkpoint[db]}: ${exact ? "yes" : "NO"}`,
      );
    }

    const backend = LocalBackend.fromFile(filer.configPath);
    const [copies, exposed, snaps] = await Promise.all([
      backend.listShadowCopies(filer.svm),
      backend.listExposedShares(filer.svm),
      backend.listSnapshots(filer.svm),
    ]);
    say(
      `\n7. Filer after the backup: ${snaps.length} snapshot(s) (${snaps.map((s) => `${s.volume}@${s.name}`).join(", ")}), ${copies.length} shadow copies, ${exposed.length} exposed shares left`,
    );

    const clean = copies.length === 0 && exposed.length === 0 && snaps.length === 1;
    ok = diffs.length === 0 && consistent && clean;
    say(
      `\nSummary: backup ${stateName(b.state)} in ${took.toFixed(2)} s, restore ${diffs.length === 0 ? "byte-identical" : "DIFFERENT"}, ` +
        `databases ${consistent ? "application-consistent" : "NOT consistent"}, ${clean ? "nothing left behind" : "unexpected leftovers"}; demo took ${((Date.now() - t0) / 1000).toFixed(1)} s.`,
    );
    return ok ? 0 : 1;
  } finally {
    await writer?.stop();
    client?.close();
    await rvss?.stop();
    await nats?.dispose();
    if (v.keep) say(`\nKept ${dir} (--keep).`);
    else await removeTree(dir);
  }
}

export const demoVerb: Register = (program, run) => {
  program
    .command("demo")
    .description("everything on this machine: NATS, the services, a backup, a verified restore, then clean-up")
    .option("--keep", "keep the demo's directory")
    .option("--verbose", "show the services' logs")
    .action(run((_s, o) => demo(o)));
};
