/**
 * rvss-sqlite-writer --svm vs1 --share share1 --dir /path/to/share --db app/orders.sqlite [--db ...]
 *                    [--rate 200] [--name NAME] [--writer-id ID]
 * NATS_URL names the rvss NATS server; its credentials and TLS are the services' variables
 * (RVSS_NATS_USER and RVSS_NATS_PASSWORD_FILE, RVSS_NATS_CA, ...), read by loadConfig. A writer that
 * logs in needs --writer-id: the ID its NATS user writer-<ID> may answer for.
 */
import * as os from "node:os";
import { parseArgs } from "node:util";
import { loadConfig } from "@rvss/runtime";
import { startSqliteWriter } from "./writer";

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      svm: { type: "string" },
      share: { type: "string" },
      dir: { type: "string" },
      db: { type: "string", multiple: true },
      rate: { type: "string", default: "200" },
      name: { type: "string" },
      "writer-id": { type: "string" },
    },
  });
  if (!v.svm || !v.share || !v.dir || !v.db?.length) {
    process.stderr.write(
      "usage: rvss-sqlite-writer --svm S --share X --dir SHARE_DIR --db DB [--db DB ...] [--rate TX_PER_S] [--name NAME] [--writer-id ID]\n",
    );
    process.exit(2);
  }
  const rate = Number(v.rate);
  if (!Number.isFinite(rate) || rate <= 0) {
    process.stderr.write(`rvss-sqlite-writer: --rate "${v.rate}" is not a positive number\n`);
    process.exit(2);
  }
  const config = loadConfig();
  const w = await startSqliteWriter({
    servers: config.natsUrl,
    credentials: config.nats,
    tls: config.natsTls,
    ...(v["writer-id"] ? { writerId: v["writer-id"] } : {}),
    name: v.name ?? `sqlite-writer@${os.hostname()}`,
    svm: v.svm,
    share: v.share,
    dir: v.dir,
    databases: v.db,
    ratePerSecond: rate,
    onLog: (m) => process.stdout.write(`${new Date().toISOString()} ${m}\n`),
  });
  process.stdout.write(`writing ${rate} transactions/s to ${v.db.join(", ")}; writer ${w.writer.writerId} ready\n`);
  const stop = (): void => {
    void w.stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`rvss-sqlite-writer: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
