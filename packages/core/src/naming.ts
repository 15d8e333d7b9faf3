/**
 * Names rvss gives to things: subject and key tokens, exposed shares, snapshots, UNC paths.
 * Every name here can be read back.
 */
import { invalidArgument } from "./errors";

const plain = /^[A-Za-z0-9_-]$/;

/**
 * Escapes a name (SVM, volume) into one token that is valid both in a NATS subject and in a KV key:
 * [A-Za-z0-9_-] stay, every other UTF-8 byte becomes "=XX". "vs1.corp" -> "vs1=2Ecorp".
 */
export function token(name: string): string {
  if (name.length === 0) throw invalidArgument("an empty name cannot be used in a subject or key");
  let out = "";
  for (const ch of name) {
    if (plain.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, "utf8")) out += "=" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/**
 * Why `name` cannot be an SVM's name, or null when it can: ONTAP names SVMs with letters, digits,
 * ".", "-" and "_" (a DNS-like name), at most 253 characters. Refused at the API, so a name such as
 * "../../etc" never reaches a record or a path.
 */
export function svmNameProblem(name: string): string | null {
  if (name === "") return "the SVM name is empty";
  if (name.length > 253) return `the SVM name is ${name.length} characters long (at most 253)`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes(".."))
    return `"${name.slice(0, 80)}" is not an SVM name (letters, digits, ".", "-" and "_", starting with a letter or digit)`;
  return null;
}

/** Reverses {@link token}. */
export function untoken(tok: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < tok.length; i++) {
    if (tok[i] === "=") {
      bytes.push(parseInt(tok.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(tok.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * The share name a shadow copy is exposed under (MS-FSRVP 3.1.4.6): share@{GUID}, GUID lowercase.
 * A hidden base share "x$" becomes "x$@{GUID}$" as the spec says.
 */
export function exposedShareName(share: string, shadowCopyId: string): string {
  const name = `${share}@{${shadowCopyId.toLowerCase()}}`;
  return share.endsWith("$") ? `${name}$` : name;
}

const snapshotPattern = /^rvss_([0-9a-f-]{36})_([0-9a-f-]{36})_(\d{8}T\d{6}Z)$/;

function compactTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** Backup snapshot name: rvss_<backupId>_<setId>_<yyyymmddThhmmssZ>, so all three read back. */
export function snapshotName(backupId: string, setId: string, takenAt: number): string {
  return `rvss_${backupId}_${setId}_${compactTime(takenAt)}`;
}

export interface SnapshotNameParts {
  backupId: string;
  setId: string;
  takenAt: number;
}

/** Reads a name made by {@link snapshotName}; null for snapshots rvss did not make. */
export function parseSnapshotName(name: string): SnapshotNameParts | null {
  const m = snapshotPattern.exec(name);
  if (!m) return null;
  const t = m[3]!;
  const iso = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`;
  return { backupId: m[1]!, setId: m[2]!, takenAt: Date.parse(iso) };
}

export interface UncPath {
  host: string;
  share: string;
}

/**
 * Parses "\\host\share" with or without a trailing "\" (diskshadow sends one). Anything after the
 * share component is ignored, as in MS-FSRVP clients. Returns null when the form is wrong.
 */
export function parseUnc(unc: string): UncPath | null {
  if (!unc.startsWith("\\\\")) return null;
  const parts = unc.slice(2).split("\\");
  const host = parts[0] ?? "";
  const share = parts[1] ?? "";
  if (host === "" || share === "") return null;
  return { host, share };
}

export function formatUnc(host: string, share: string): string {
  return `\\\\${host}\\${share}`;
}

/** Milliseconds between 1601-01-01 (the FILETIME epoch) and 1970-01-01. */
const FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000n;

/** A Unix time in ms as a Windows FILETIME: 100 ns ticks since 1601-01-01 UTC. */
export function toFileTime(ms: number): bigint {
  return (BigInt(Math.round(ms)) + FILETIME_EPOCH_OFFSET_MS) * 10_000n;
}

/** The GUID that names nothing; never a valid set ID. */
export const NULL_GUID = "00000000-0000-0000-0000-000000000000";

const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a GUID in 8-4-4-4-12 form (braces allowed), false for anything else. */
export function isGuid(id: string): boolean {
  return guidPattern.test(id.replace(/^\{(.*)\}$/, "$1"));
}

/** Lowercase, brace-free GUID; the form every ID is stored in. */
export function normaliseGuid(id: string): string {
  return id.replace(/^\{(.*)\}$/, "$1").toLowerCase();
}
