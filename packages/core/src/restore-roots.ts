/**
 * Where a restore may write: a directory target must lie under one of the restore roots
 * (RVSS_RESTORE_ROOTS). Lexical, on normalised absolute paths; the executor also resolves links
 * of what exists before it writes, and the storage follows none below the root.
 */
import { ErrorCodes, RvssError } from "./errors";

/** Why `target` is not a place a restore may write, or null when it lies under a root. */
export function restoreTargetProblem(target: string, roots: readonly string[]): string | null {
  if (!target.startsWith("/")) return `restore directory "${target}" must be an absolute path`;
  const segments = target.split("/").slice(1);
  if (segments.some((s) => s === "" || s === "." || s === "..") && target !== "/")
    return `restore directory "${target}" must be a normalised path (no empty, "." or ".." parts)`;
  if (target.includes("\0")) return `restore directory "${target}" contains a NUL byte`;
  if (roots.length === 0)
    return `restores into a directory are off: set RVSS_RESTORE_ROOTS to the directories restores may write under`;
  return restoreRootOf(target, roots) !== null
    ? null
    : `restore directory "${target}" is outside the restore roots (${roots.join(", ")}; RVSS_RESTORE_ROOTS)`;
}

/** The root `target` lies under (the innermost, when roots nest), or null. */
export function restoreRootOf(target: string, roots: readonly string[]): string | null {
  let found: string | null = null;
  for (const r of roots)
    if ((target === r || target.startsWith(r.endsWith("/") ? r : `${r}/`)) && r.length > (found?.length ?? -1))
      found = r;
  return found;
}

/** Returns the root `target` lies under; throws PERMISSION_DENIED when it is not a place a restore may write. */
export function checkRestoreTarget(target: string, roots: readonly string[]): string {
  const p = restoreTargetProblem(target, roots);
  if (p) throw new RvssError(ErrorCodes.PERMISSION_DENIED, p, { path: target, variable: "RVSS_RESTORE_ROOTS" });
  return restoreRootOf(target, roots)!;
}
