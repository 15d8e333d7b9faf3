/**
 * Lexical rules for a requestor's VM file list. The storage side re-checks every path on disk
 * (existence, type, and that it resolves inside the share); these rules reject what never can be valid.
 */

export type FileListRule = "empty-path" | "nul-byte" | "absolute-path" | "parent-segment" | "duplicate";

export interface FileListProblem {
  path: string;
  rule: FileListRule;
  message: string;
}

export interface CheckedFileList {
  /** Normalised paths: "/"-separated, no "." segments, no leading or trailing "/". */
  files: string[];
  problems: FileListProblem[];
}

/** Normalises one listed path or says why it can never name a file inside the share. */
export function normaliseListedPath(raw: string): { path: string } | FileListProblem {
  if (raw.includes("\0")) return { path: raw, rule: "nul-byte", message: `file path ${JSON.stringify(raw)} contains a NUL byte` };
  const slashed = raw.replace(/\\/g, "/");
  if (slashed.startsWith("/") || /^[A-Za-z]:/.test(slashed)) {
    return { path: raw, rule: "absolute-path", message: `file path "${raw}" is absolute; list paths relative to the share root` };
  }
  const segments = slashed.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) {
    return { path: raw, rule: "parent-segment", message: `file path "${raw}" contains "..", which could leave the share` };
  }
  if (segments.length === 0) return { path: raw, rule: "empty-path", message: "an empty file path was listed" };
  return { path: segments.join("/") };
}

/** Checks a whole list: every problem is reported, not only the first. */
export function checkFileList(raw: readonly string[]): CheckedFileList {
  const files: string[] = [];
  const problems: FileListProblem[] = [];
  const seen = new Set<string>();
  for (const entry of raw) {
    const r = normaliseListedPath(entry);
    if ("rule" in r) {
      problems.push(r);
    } else if (seen.has(r.path)) {
      problems.push({ path: entry, rule: "duplicate", message: `file "${r.path}" is listed more than once` });
    } else {
      seen.add(r.path);
      files.push(r.path);
    }
  }
  return { files, problems };
}
