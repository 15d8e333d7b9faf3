import { spawn } from "node:child_process";
import * as path from "node:path";
import { ErrorCodes, RvssError } from "@rvss/core";

export interface SqliteWriterProcess {
  output(): string;
  stop(): Promise<void>;
}

/** Starts the SQLite reference writer as its own process and waits until it has registered. */
export async function startSqliteWriterProcess(o: {
  natsUrl: string;
  svm: string;
  share: string;
  dir: string;
  databases: string[];
  rate?: number;
  name?: string;
  /** The ID its NATS user may answer for; a new one per start by default. */
  writerId?: string;
  /** Its NATS credentials (NatsUsers.env of its writer identity), over the environment's. */
  env?: Record<string, string>;
}): Promise<SqliteWriterProcess> {
  const bin = path.join(
    path.dirname(require.resolve("@rvss/sqlite-writer/package.json")),
    "bin",
    "rvss-sqlite-writer.js",
  );
  const args = [
    "--svm",
    o.svm,
    "--share",
    o.share,
    "--dir",
    o.dir,
    ...o.databases.flatMap((d) => ["--db", d]),
    "--rate",
    String(o.rate ?? 200),
    "--name",
    o.name ?? "sqlite-writer",
    ...(o.writerId ? ["--writer-id", o.writerId] : []),
  ];
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, ...o.env, NATS_URL: o.natsUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const collect = (b: Buffer): void => void (out = (out + b.toString()).slice(-100_000));
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!/writer \S+ ready/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new RvssError(
        ErrorCodes.INTERNAL,
        `the SQLite writer did not start: ${out.trim().split("\n").slice(-3).join(" | ")}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
