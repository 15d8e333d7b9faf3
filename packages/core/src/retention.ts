/**
 * Retention as Velero has it (a TTL per backup, `720h` by default there) plus keep-last as
 * SnapManager has it (the N most recent completed backups per SVM), and what the collector may
 * delete under them at a given time. Pure: the clock is an argument.
 */
import { invalidArgument } from "./errors";
import type { BackupStateName } from "./backup";

/** A backup's retention, recorded on it when it is created. */
export interface Retention {
  /** Maximum age in Velero's (Go's) duration syntax, e.g. "720h"; absent: no expiry by age. */
  ttl?: string;
  /** Keep this many of the most recent completed backups per SVM (of the same schedule); absent: no limit. */
  keepLast?: number;
}

const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Go's time.ParseDuration, which Velero's --ttl uses: one or more decimal numbers with a unit
 * (ns, us, ms, s, m, h), e.g. "720h", "1h30m", "1.5h", "45s". Days are not a unit there either.
 * Returns milliseconds; refuses anything else naming the field and the value.
 */
export function parseTtl(text: string, field = "ttl"): number {
  const t = text.trim();
  const bad = () =>
    invalidArgument(`${field} "${text}" is not a duration: use Go's syntax as Velero does, e.g. 720h, 1h30m, 45s`, {
      field,
      value: text,
    });
  if (t === "0") return 0;
  if (!/^(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))*$/.test(t)) throw bad();
  let total = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * unitMs[m[2]!]!;
  if (!Number.isFinite(total)) throw bad();
  return Math.round(total);
}

/** Checks a retention policy from a request; "" and 0 mean "not set". */
export function checkRetention(ttl: string, keepLast: number): Retention {
  const out: Retention = {};
  if (ttl.trim() !== "") {
    if (parseTtl(ttl) <= 0) throw invalidArgument(`ttl "${ttl}" must be longer than 0`, { field: "ttl", value: ttl });
    out.ttl = ttl.trim();
  }
  if (!Number.isInteger(keepLast) || keepLast < 0)
    throw invalidArgument(`keepLast ${keepLast} must be a whole number >= 0 (0: no limit)`, {
      field: "keepLast",
      value: keepLast,
    });
  if (keepLast > 0) out.keepLast = keepLast;
  return out;
}

/** When a backup created at `createdAt` expires under `r` (Velero: creation time + ttl); undefined: never by age. */
export function expiresAt(r: Retention, createdAt: number): number | undefined {
  return r.ttl ? createdAt + parseTtl(r.ttl) : undefined;
}

/** What retention needs to know of one backup. */
export interface RetainedBackup {
  id: string;
  createdAt: number;
  state: BackupStateName;
  /** The SVMs it holds snapshots of. */
  svms: string[];
  retention: Retention;
  expiresAt?: number;
  /** Keep-last counts backups of one schedule together ("" for backups made by hand). */
  schedule: string;
}

export interface Verdict {
  backupId: string;
  /** Why, in words for events and logs. */
  reason: string;
}

export interface Collection {
  /** What the collector deletes now, oldest first. */
  expired: Verdict[];
  /** What expired but is kept: the last completed backup of an SVM. */
  kept: Verdict[];
}

const gone = new Set<BackupStateName>(["Running", "Deleting", "Deleted"]);

/**
 * Which backups the collector deletes at `now`: those past their expiry, and completed ones beyond
 * their keep-last on every SVM they hold (deleting a backup removes its snapshots everywhere).
 * The newest completed backup of each SVM is never among them unless `force`; a running backup,
 * or one already being deleted, never is.
 */
export function collect(backups: readonly RetainedBackup[], now: number, opts: { force?: boolean } = {}): Collection {
  const live = backups
    .filter((b) => !gone.has(b.state))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
  const completed = live.filter((b) => b.state === "Completed");
  const reasons = new Map<string, string>();
  for (const b of live) {
    if (b.expiresAt !== undefined && b.expiresAt <= now)
      reasons.set(b.id, `ttl ${b.retention.ttl} expired at ${new Date(b.expiresAt).toISOString()}`);
  }
  for (const b of completed) {
    const n = b.retention.keepLast;
    if (!n || reasons.has(b.id) || b.svms.length === 0) continue;
    const newer = b.svms.map(
      (svm) =>
        completed.filter((o) => o.schedule === b.schedule && o.svms.includes(svm) && o.createdAt > b.createdAt).length,
    );
    if (newer.every((k) => k >= n)) {
      const of = b.schedule ? ` of schedule "${b.schedule}"` : "";
      reasons.set(b.id, `keep-last ${n}: ${Math.min(...newer)} newer completed backups${of} on ${b.svms.join(", ")}`);
    }
  }
  const newestBySvm = new Map<string, string>();
  for (const b of completed) for (const svm of b.svms) if (!newestBySvm.has(svm)) newestBySvm.set(svm, b.id);
  const out: Collection = { expired: [], kept: [] };
  for (const b of [...live].reverse()) {
    const reason = reasons.get(b.id);
    if (!reason) continue;
    const lastOf = b.svms.filter((svm) => newestBySvm.get(svm) === b.id);
    if (lastOf.length > 0 && !opts.force)
      out.kept.push({
        backupId: b.id,
        reason: `${reason}, but it is the last completed backup of SVM ${lastOf.join(", ")}`,
      });
    else out.expired.push({ backupId: b.id, reason });
  }
  return out;
}
