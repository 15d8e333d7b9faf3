/**
 * A continuous write workload on SQLite databases: every transaction inserts one row whose id is one
 * higher than the last, at a steady rate, spread over the databases. Checkpoint pauses it, flushes
 * the WAL into the database file and records the last committed id of each database.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import Database from "better-sqlite3";

export interface Checkpoint {
  /** Database (relative path) -> last committed id. */
  ids: Record<string, number>;
}

export class Workload {
  private readonly dbs: { rel: string; db: Database.Database; insert: Database.Statement }[];
  private timer: NodeJS.Timeout | null = null;
  private paused = false;
  private baseline = { at: Date.now(), done: 0 };
  private next = 0;
  /** Transactions committed since start. */
  committed = 0;

  constructor(
    readonly dir: string,
    databases: string[],
    readonly ratePerSecond: number,
  ) {
    this.dbs = databases.map((rel) => {
      const file = path.join(dir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const db = new Database(file);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec("CREATE TABLE IF NOT EXISTS tx (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, payload TEXT NOT NULL)");
      return { rel, db, insert: db.prepare("INSERT INTO tx (at, payload) VALUES (?, ?)") };
    });
  }

  start(): void {
    this.baseline = { at: Date.now(), done: this.committed };
    this.timer = setInterval(() => this.tick(), 5);
  }

  /** Commits as many transactions as the rate asks for by now (each one its own transaction). */
  private tick(): void {
    if (this.paused) return;
    const due =
      Math.floor(((Date.now() - this.baseline.at) * this.ratePerSecond) / 1000) + this.baseline.done - this.committed;
    for (let i = 0; i < due; i++) {
      const d = this.dbs[this.next++ % this.dbs.length]!;
      d.insert.run(Date.now(), `tx ${this.committed}`);
      this.committed++;
    }
  }

  /** Stops writing, flushes every WAL into its database file, and says where each database stands. */
  checkpoint(): Checkpoint {
    this.paused = true;
    const ids: Record<string, number> = {};
    for (const d of this.dbs) {
      d.db.pragma("wal_checkpoint(TRUNCATE)");
      ids[d.rel] = (d.db.prepare("SELECT coalesce(max(id), 0) AS id FROM tx").get() as { id: number }).id;
    }
    return { ids };
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.baseline = { at: Date.now(), done: this.committed };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const d of this.dbs) d.db.close();
  }
}

/**
 * Auto-recovery inside a writable copy: open the database there (SQLite replays or discards its own
 * journal), check its integrity, roll back anything after the checkpoint, flush, close.
 */
export function recoverDatabase(
  file: string,
  checkpointId: number,
): { integrity: string; rowsRolledBack: number; lastId: number } {
  if (!fs.existsSync(file))
    throw new Error(`database ${file} is not in the shadow copy; list it in the backup's files`);
  const db = new Database(file);
  try {
    const integrity = (db.pragma("integrity_check", { simple: true }) as string) ?? "";
    if (integrity !== "ok") throw new Error(`database ${file} failed its integrity check: ${integrity}`);
    const rolledBack = db.prepare("DELETE FROM tx WHERE id > ?").run(checkpointId).changes;
    const lastId = (db.prepare("SELECT coalesce(max(id), 0) AS id FROM tx").get() as { id: number }).id;
    if (lastId !== checkpointId)
      throw new Error(`database ${file} ends at id ${lastId}, not at the checkpoint id ${checkpointId}`);
    db.pragma("wal_checkpoint(TRUNCATE)");
    return { integrity, rowsRolledBack: rolledBack, lastId };
  } finally {
    db.close();
  }
}

/** What a (restored) database holds: its integrity and the range of transaction ids. */
export function inspectDatabase(file: string): { integrity: string; rows: number; minId: number; maxId: number } {
  const db = new Database(file, { readonly: true });
  try {
    const integrity = (db.pragma("integrity_check", { simple: true }) as string) ?? "";
    const r = db
      .prepare("SELECT count(*) AS n, coalesce(min(id), 0) AS lo, coalesce(max(id), 0) AS hi FROM tx")
      .get() as { n: number; lo: number; hi: number };
    return { integrity, rows: r.n, minId: r.lo, maxId: r.hi };
  } finally {
    db.close();
  }
}
