/**
 * Share resolution: where each share of a set lives (SVM, volume, path in the volume), and whether
 * it can be shadow-copied: no volume junction below its root, and a usable file list. Every problem
 * of every share is reported, not only the first.
 */
import { ErrorCodes, checkFileList, isRvssError } from "@rvss/core";
import type { ResolvedShare as ResolvedShareMsg, ShareCheck, ShareSelection, Violation } from "@rvss/proto";
import type { StorageBackend } from "@rvss/storage";

export type Resolution = { ok: true; shares: ResolvedShareMsg[] } | { ok: false; reason: string; violations: Violation[] };

const ruleOf: Partial<Record<string, string>> = {
  [ErrorCodes.SVM_NOT_FOUND]: "svm-not-found",
  [ErrorCodes.SHARE_NOT_FOUND]: "share-not-found",
};

/** Checks one share. Storage failures (not answers about the share) are thrown. */
export async function checkShare(backend: StorageBackend, svm: string, sel: ShareSelection): Promise<ShareCheck> {
  const v = (rule: string, message: string, path = ""): Violation => ({ svm, share: sel.share, path, rule, message });
  let resolved;
  try {
    resolved = await backend.resolveShare(svm, sel.share);
  } catch (err) {
    const rule = isRvssError(err) ? ruleOf[err.code] : undefined;
    if (!rule) throw err;
    return { share: sel.share, found: false, violations: [v(rule, (err as Error).message)] };
  }
  const violations: Violation[] = [];
  for (const j of resolved.junctionsBelow) {
    violations.push(v("junction-below-share", `volume junction ${j} lies under share "${sel.share}" (${resolved.namespacePath}); Remote VSS cannot copy across volumes`, j));
  }
  const { files, problems } = checkFileList(sel.files);
  for (const p of problems) violations.push(v(p.rule, p.message, p.path));
  for (const p of await backend.checkFiles(resolved, files)) violations.push(v(p.rule, p.message, p.path));
  return {
    share: resolved.share,
    found: true,
    resolved: { share: resolved.share, volume: resolved.volume, sharePath: resolved.sharePath, junctionPath: resolved.junctionPath, files },
    violations,
  };
}

export async function resolveShares(backend: StorageBackend, svm: string, selections: ShareSelection[]): Promise<Resolution> {
  const checks = [];
  for (const sel of selections) checks.push(await checkShare(backend, svm, sel));
  const violations = checks.flatMap((c) => c.violations);
  if (violations.length > 0) {
    const first = violations[0]!.message;
    const reason = violations.length === 1 ? first : `${first} (and ${violations.length - 1} more problem${violations.length > 2 ? "s" : ""})`;
    return { ok: false, reason, violations };
  }
  return { ok: true, shares: checks.map((c) => c.resolved!) };
}
