/**
 * Share resolution and preflight: where each share of a set lives (SVM, volume, path in the volume),
 * and whether it can be shadow-copied: its layout keeps the Remote VSS directory rules (walked as a
 * stream, see @rvss/core layout.ts), no VM has files in two of the shares, and the file list is
 * usable. Every problem of every share is reported, not only the first.
 */
import {
  ErrorCodes,
  LayoutTally,
  MAX_LISTED_VIOLATIONS,
  checkSelectionFiles,
  isRvssError,
  mapLimit,
  shareVms,
  withSplitVms,
} from "@rvss/core";
import type { ResolvedShare as ResolvedShareMsg, ShareCheck, ShareSelection, Violation } from "@rvss/proto";
import type { StorageBackend } from "@rvss/storage";

export type Resolution =
  { ok: true; shares: ResolvedShareMsg[] } | { ok: false; reason: string; violations: Violation[] };

const ruleOf: Partial<Record<string, string>> = {
  [ErrorCodes.SVM_NOT_FOUND]: "svm-not-found",
  [ErrorCodes.SHARE_NOT_FOUND]: "share-not-found",
};

/** Checks one share: its file list, then its whole layout. Storage failures (not answers about the share) are thrown. */
export async function checkShare(backend: StorageBackend, svm: string, sel: ShareSelection): Promise<ShareCheck> {
  const v = (rule: string, message: string, path = ""): Violation => ({ svm, share: sel.share, path, rule, message });
  let resolved;
  try {
    resolved = await backend.resolveShare(svm, sel.share);
  } catch (err) {
    const rule = isRvssError(err) ? ruleOf[err.code] : undefined;
    if (!rule) throw err;
    return {
      svm,
      share: sel.share,
      found: false,
      violations: [v(rule, (err as Error).message)],
      violationsNotListed: 0,
      vms: [],
    };
  }
  const { files, problems, vms } = checkSelectionFiles(sel.files, sel.vms);
  const violations = problems.map((p) => v(p.rule, p.message, p.path));
  for (const p of await backend.checkFiles(resolved, files)) violations.push(v(p.rule, p.message, p.path));
  const layout = new LayoutTally({
    where: { svm, share: resolved.share },
    depthLimit: resolved.shadowCopyDirDepth,
    listed: new Set(files),
  });
  for await (const batch of backend.walkShare(resolved)) layout.add(batch);
  const storage = (await backend.capabilities?.())?.find((c) => c.svm === svm && c.volume === resolved.volume);
  // The walk finds entries in no particular order; people read reports sorted by path.
  for (const x of layout.violations.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
    violations.push(v(x.rule, x.message, x.path));
  return {
    svm,
    share: resolved.share,
    found: true,
    resolved: {
      share: resolved.share,
      volume: resolved.volume,
      sharePath: resolved.sharePath,
      junctionPath: resolved.junctionPath,
      files,
    },
    violations,
    violationsNotListed: layout.notListed,
    vms: shareVms(vms, layout.topDirectories),
    layout: {
      files: layout.files,
      directories: layout.directories,
      others: layout.others,
      deepestFile: layout.deepestFile,
      depthLimit: resolved.shadowCopyDirDepth,
    },
    ...(storage
      ? {
          storage: {
            filesystem: storage.filesystem,
            cow: storage.cow,
            reflink: storage.reflink,
            subvolume: storage.subvolume,
          },
        }
      : {}),
  };
}

/** Lists at most MAX_LISTED_VIOLATIONS over all checks of one answer or event (NATS messages are small); counts the rest. */
export function capViolations(checks: ShareCheck[]): ShareCheck[] {
  let room = MAX_LISTED_VIOLATIONS;
  return checks.map((c) => {
    const keep = Math.min(room, c.violations.length);
    room -= keep;
    return keep === c.violations.length
      ? c
      : {
          ...c,
          violations: c.violations.slice(0, keep),
          violationsNotListed: c.violationsNotListed + c.violations.length - keep,
        };
  });
}

/** Checks the shares of a set, and that no VM has files in two of them. */
export async function resolveShares(
  backend: StorageBackend,
  svm: string,
  selections: ShareSelection[],
): Promise<Resolution> {
  // A few shares at a time: each walk is itself concurrent, and a set holds up to 64 shares.
  const each = await mapLimit(selections, 8, (sel) => checkShare(backend, svm, sel));
  const checks = capViolations(withSplitVms(each));
  const violations = checks.flatMap((c) => c.violations);
  const notListed = checks.reduce((n, c) => n + c.violationsNotListed, 0);
  if (violations.length > 0) {
    const more = violations.length - 1 + notListed;
    const reason =
      more === 0
        ? violations[0]!.message
        : `${violations[0]!.message} (and ${more} more problem${more > 1 ? "s" : ""})`;
    return { ok: false, reason, violations };
  }
  return { ok: true, shares: checks.map((c) => c.resolved!) };
}
