/**
 * A snapshot's restore verification as the coordinator keeps it. The executor checksums each
 * snapshot after its backup completed, off the critical path, and reports every state it reaches;
 * the record keeps the latest report, and one that is verified (or never will be) stays so.
 */
import type { ErrorCode } from "./errors";

/** pending: no report yet (the snapshot is taken, its checksums are not); none: the storage keeps no checksums. */
export type VerificationStateName = "pending" | "verifying" | "verified" | "failed" | "none";

export interface SnapshotVerificationRecord {
  volume: string;
  name: string;
  state: Exclude<VerificationStateName, "pending">;
  /** failed: what failed, naming the snapshot and the file. */
  reason?: string;
  code?: ErrorCode;
  /** failed: the file that could not be read, relative to its share root. */
  file?: string;
  /** verified: what was checksummed. */
  files?: number;
  bytes?: number;
  /** When the executor reached the state (epoch ms). */
  at: number;
}

/**
 * The record after `report`, or null when the report changes nothing: the same report again, one
 * older than the record (events may come out of order), or any after a final state. A failed
 * verification is not final: the executor tries again at its next start.
 */
export function nextVerification(
  current: SnapshotVerificationRecord | null,
  report: SnapshotVerificationRecord,
): SnapshotVerificationRecord | null {
  if (current === null) return report;
  if (current.state === "verified" || current.state === "none") return null;
  if (report.at < current.at || (report.at === current.at && report.state === current.state)) return null;
  return report;
}
