/**
 * Share resolution: where each share of a set lives (SVM, volume, path in the volume), and whether
 * the listed VM files are usable. Every problem of every share is reported, not only the first.
 */
import { ErrorCodes, RvssError, checkFileList, isRvssError } from "@rvss/core";
import type { ResolvedShare as ResolvedShareMsg, ShareSelection, Violation } from "@rvss/proto";
import type { StorageBackend } from "@rvss/storage";

export type Resolution = { ok: true; shares: ResolvedShareMsg[] } | { ok: false; reason: string; violations: Violation[] };

const ruleOf: Partial<Record<string, string>> = {
  [ErrorCodes.SVM_NOT_FOUND]: "svm-not-found",
  [ErrorCodes.SHARE_NOT_FOUND]: "share-not-found",
};

export async function resolveShares(backend: StorageBackend, svm: string, selections: ShareSelection[]): Promise<Resolution> {
  const shares: ResolvedShareMsg[] = [];
  const violations: Violation[] = [];
  for (const sel of selections) {
    const v = (rule: string, message: string, path = ""): Violation => ({ svm, share: sel.share, path, rule, message });
    let resolved: ResolvedShare;
    try {
      resolved = await backend.resolveShare(svm, sel.share);
    } catch (err) {
      const rule = isRvssError(err) ? ruleOf[err.code] : undefined;
      if (!rule) throw err;
      violations.push(v(rule, (err as RvssError).message));
      continue;
    }
    for (const j of resolved.junctionsBelow) {
      violations.push(v("junction-below-share", `volume junction ${j} lies under share "${sel.share}" (${resolved.namespacePath}); Remote VSS cannot copy across volumes`, j));
    }
    const { files, problems } = checkFileList(sel.files);
    for (const p of problems) violations.push(v(p.rule, p.message, p.path));
    for (const p of await backend.checkFiles(resolved, files)) violations.push(v(p.rule, p.message, p.path));
    shares.push({ share: resolved.share, volume: resolved.volume, sharePath: resolved.sharePath, junctionPath: resolved.junctionPath, files });
  }
  if (violations.length > 0) {
    const first = violations[0]!.message;
    const reason = violations.length === 1 ? first : `${first} (and ${violations.length - 1} more problem${violations.length > 2 ? "s" : ""})`;
    return { ok: false, reason, violations };
  }
  return { ok: true, shares };
}

type ResolvedShare = Awaited<ReturnType<StorageBackend["resolveShare"]>>;
