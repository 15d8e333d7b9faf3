/**
 * The SQLite reference writer: keeps databases on a share under a continuous workload and takes
 * part in rvss backups so that they are application-consistent.
 */
import * as path from "node:path";
import { startWriter, type Writer, type WriterOptions } from "@rvss/writer-sdk";
import { Workload, recoverDatabase, type Checkpoint } from "./workload";

export interface SqliteWriterOptions extends Pick<WriterOptions, "credentials" | "tls" | "writerId"> {
  servers: string;
  name: string;
  svm: string;
  share: string;
  /** The share's root directory, where the databases are. */
  dir: string;
  /** Databases, relative to the share root. */
  databases: string[];
  ratePerSecond: number;
  onLog?: (message: string) => void;
}

export interface SqliteWriter {
  writer: Writer;
  workload: Workload;
  stop(): Promise<void>;
}

export function formatCheckpoint(c: Checkpoint): string {
  return (
    "checkpoint_ids=" +
    Object.entries(c.ids)
      .map(([db, id]) => `${db}:${id}`)
      .join(",")
  );
}

export function parseCheckpoint(detail: string): Record<string, number> {
  const m = /checkpoint_ids=(\S+)/.exec(detail);
  if (!m) return {};
  return Object.fromEntries(
    m[1]!.split(",").map((p) => [p.slice(0, p.lastIndexOf(":")), Number(p.slice(p.lastIndexOf(":") + 1))]),
  );
}

export async function startSqliteWriter(o: SqliteWriterOptions): Promise<SqliteWriter> {
  const workload = new Workload(o.dir, o.databases, o.ratePerSecond);
  workload.start();
  const checkpoints = new Map<string, Checkpoint>();
  const writer = await startWriter({
    servers: o.servers,
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
    ...(o.writerId ? { writerId: o.writerId } : {}),
    name: o.name,
    svm: o.svm,
    shares: [{ share: o.share, files: o.databases }],
    ...(o.onLog ? { onLog: o.onLog } : {}),
    async checkpoint(ctx) {
      const c = workload.checkpoint();
      checkpoints.set(ctx.setId, c);
      return { detail: formatCheckpoint(c) };
    },
    async thaw() {
      workload.resume();
    },
    async autoRecover(ctx) {
      const c = checkpoints.get(ctx.setId);
      if (!c) throw new Error(`no checkpoint was taken for set ${ctx.setId}`);
      const done: string[] = [];
      for (const copy of ctx.copies) {
        for (const db of o.databases) {
          const r = recoverDatabase(path.join(copy.accessPath, db), c.ids[db]!);
          done.push(`${db}:${r.lastId}(-${r.rowsRolledBack})`);
        }
      }
      return { detail: `recovered=${done.join(",")}` };
    },
    async finish(ctx) {
      checkpoints.delete(ctx.setId);
    },
  });
  return {
    writer,
    workload,
    async stop() {
      await writer.stop();
      workload.stop();
    },
  };
}
