/**
 * Lexical rules for a requestor's VM file list. The storage side re-checks every path on disk
 * (existence, type, and that it resolves inside the share); these rules reject what never can be valid.
 */

export type FileListRule =
  | "empty-path"
  | "nul-byte"
  | "absolute-path"
  | "parent-segment"
  | "name-too-long"
  | "duplicate"
  | "vm-name-missing"
  | "vm-named-twice"
  | "vm-without-files";

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

/** The longest file name (one path segment) filesystems take, in bytes (NAME_MAX). */
const MAX_NAME_BYTES = 255;

/** Normalises one listed path or says why it can never name a file inside the share. */
export function normaliseListedPath(raw: string): { path: string } | FileListProblem {
  if (raw.includes("\0"))
    return { path: raw, rule: "nul-byte", message: `file path ${JSON.stringify(raw)} contains a NUL byte` };
  const slashed = raw.replace(/\\/g, "/");
  if (slashed.startsWith("/") || /^[A-Za-z]:/.test(slashed)) {
    return {
      path: raw,
      rule: "absolute-path",
      message: `file path "${raw}" is absolute; list paths relative to the share root`,
    };
  }
  const segments = slashed.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) {
    return {
      path: raw,
      rule: "parent-segment",
      message: `file path "${raw}" contains "..", which could leave the share`,
    };
  }
  if (segments.length === 0) return { path: raw, rule: "empty-path", message: "an empty file path was listed" };
  const long = segments.find((s) => Buffer.byteLength(s) > MAX_NAME_BYTES);
  if (long !== undefined)
    return {
      path: raw.slice(0, 80),
      rule: "name-too-long",
      message: `file path "${raw.slice(0, 80)}…" has a name of ${Buffer.byteLength(long)} bytes; no filesystem takes more than ${MAX_NAME_BYTES}`,
    };
  return { path: segments.join("/") };
}

/** One VM named by the requestor, and its files (relative to the share root). */
export interface VmFileList {
  name: string;
  files: string[];
}

/** Checks a whole list: every problem is reported, not only the first. */
export function checkFileList(raw: readonly string[]): CheckedFileList {
  const { files, problems } = checkSelectionFiles(raw, []);
  return { files, problems };
}

/**
 * Checks a share's whole list: its files and the files of the VMs it names, as one list (so a file
 * listed twice, even under two VMs, is a duplicate). A VM needs a name, once per share, and files.
 * `files` is every listed path, VM files included: all of them are cloned.
 */
export function checkSelectionFiles(
  raw: readonly string[],
  rawVms: readonly VmFileList[],
): CheckedFileList & { vms: VmFileList[] } {
  const files: string[] = [];
  const problems: FileListProblem[] = [];
  const seen = new Set<string>();
  const take = (entry: string): string | null => {
    const r = normaliseListedPath(entry);
    if ("rule" in r) problems.push(r);
    else if (seen.has(r.path))
      problems.push({ path: entry, rule: "duplicate", message: `file "${r.path}" is listed more than once` });
    else {
      seen.add(r.path);
      files.push(r.path);
      return r.path;
    }
    return null;
  };
  for (const entry of raw) take(entry);
  const vms: VmFileList[] = [];
  const names = new Set<string>();
  for (const [i, vm] of rawVms.entries()) {
    const name = vm.name.trim();
    const label = name === "" ? `VM ${i + 1} of the list` : `VM "${name}"`;
    if (name === "") problems.push({ path: "", rule: "vm-name-missing", message: `${label} has no name` });
    else if (names.has(name.toLowerCase()))
      problems.push({ path: "", rule: "vm-named-twice", message: `${label} is named more than once` });
    names.add(name.toLowerCase());
    if (vm.files.length === 0)
      problems.push({ path: "", rule: "vm-without-files", message: `${label} lists no files` });
    const own = vm.files.map(take).filter((p): p is string => p !== null);
    if (name !== "") vms.push({ name, files: own });
  }
  return { files, problems, vms };
}
