/**
 * The Remote VSS directory rules (ONTAP "supported directory structure"), as pure functions over the
 * entries of a walked share. Rules 1, 3 and 4 look at one entry at a time, so a walk can feed them as
 * it streams; rule 2 compares the VMs of several shares. Every violation names its path and rule.
 *
 *   1. only directories and regular files below the share root    not-regular, junction-below-share
 *   2. all files of one VM inside one share                        vm-split-across-shares
 *   3. depth within the SVM's shadow copy directory depth           too-deep
 *   4. the share root holds only VM files or VM directories         stray-at-root
 *
 * How VMs are known. A request may name the VMs of a share and their files (DatasetShare.vms); then
 * those are the share's VMs. Otherwise each top-level directory of the share is one VM, named by the
 * directory (Hyper-V keeps a VM's "Virtual Hard Disks" and "Virtual Machines" under one folder), and
 * a regular file directly in the share root is a VM file when its extension is one Hyper-V uses
 * (VM_FILE_EXTENSIONS) or when the request lists it. VM names compare case-insensitively, as SMB paths
 * do. Rule 2 holds when no VM name appears in two shares of one request; rule 4 holds when every
 * regular file in the root is a VM file (non-regular entries there already break rule 1).
 *
 * Depth. An entry's depth is the number of directories between the share root and it: a file
 * directly in the root has depth 0, "vm1/disk.vhdx" depth 1. With a shadow copy directory depth N
 * (ONTAP default 5, 0 = unlimited) a file may have depth N at most, so directories nest at most N
 * levels. The first directory one level deeper (depth N, "a/b/c/d/e/f" for N = 5) is reported once;
 * nothing below it is reported again for depth.
 */

import type { VmFileList } from "./file-list";

export type EntryKind = "file" | "directory" | "symlink" | "fifo" | "socket" | "device" | "junction" | "other";

export interface LayoutEntry {
  /** Relative to the share root, "/"-separated. */
  path: string;
  kind: EntryKind;
  /** Directories between the share root and the entry: 0 directly in the root. */
  depth: number;
}

export type LayoutRule =
  "not-regular" | "junction-below-share" | "too-deep" | "stray-at-root" | "vm-split-across-shares";

export interface LayoutViolation {
  path: string;
  rule: LayoutRule;
  message: string;
}

/** What the messages say about where the share is. */
export interface ShareLabel {
  svm: string;
  share: string;
}

/** File extensions of Hyper-V VMs: disks, differencing disks, change tracking, configuration, state. */
export const VM_FILE_EXTENSIONS: readonly string[] = [
  ".vhdx",
  ".vhd",
  ".avhdx",
  ".avhd",
  ".rct",
  ".mrt",
  ".vmcx",
  ".vmrs",
  ".vmgs",
  ".vsv",
  ".bin",
  ".xml",
];

export function isVmFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return VM_FILE_EXTENSIONS.some((ext) => lower.endsWith(ext) && lower.length > ext.length);
}

const kindNames: Record<EntryKind, string> = {
  file: "regular file",
  directory: "directory",
  symlink: "symbolic link",
  fifo: "FIFO",
  socket: "socket",
  device: "device",
  junction: "volume junction",
  other: "special file",
};

/** How messages name a kind of entry: "symbolic link", "FIFO", ... */
export function kindName(kind: EntryKind): string {
  return kindNames[kind];
}

/** Rule 1: only directories and regular files; a volume junction is named as such. */
export function notRegular(e: LayoutEntry, where: ShareLabel): LayoutViolation | null {
  if (e.kind === "file" || e.kind === "directory") return null;
  if (e.kind === "junction") {
    return {
      path: e.path,
      rule: "junction-below-share",
      message: `"${e.path}" in share "${where.share}" is a volume junction; Remote VSS cannot copy across volumes`,
    };
  }
  return {
    path: e.path,
    rule: "not-regular",
    message: `"${e.path}" in share "${where.share}" is a ${kindName(e.kind)}; a Remote VSS share may hold only directories and regular files`,
  };
}

/** Rule 3: names the first directory too deep for `limit` (0 = unlimited). */
export function tooDeep(e: LayoutEntry, limit: number, where: ShareLabel): LayoutViolation | null {
  if (limit === 0 || e.kind !== "directory" || e.depth !== limit) return null;
  return {
    path: e.path,
    rule: "too-deep",
    message: `directory "${e.path}" in share "${where.share}" is nested ${limit + 1} levels deep; SVM "${where.svm}" copies at most ${limit} (shadow copy directory depth)`,
  };
}

/** Rule 4: a regular file in the share root must be a VM file (by extension, or listed by the request). */
export function strayAtRoot(e: LayoutEntry, listed: ReadonlySet<string>, where: ShareLabel): LayoutViolation | null {
  if (e.depth !== 0 || e.kind !== "file" || isVmFileName(e.path) || listed.has(e.path)) return null;
  return {
    path: e.path,
    rule: "stray-at-root",
    message: `"${e.path}" in the root of share "${where.share}" is not a VM file; the share root may hold only VM files (${VM_FILE_EXTENSIONS.join(" ")}) and VM directories`,
  };
}

/** Violations listed at most (per share, and per answer); more are counted, so a huge bad share stays a small, readable answer. */
export const MAX_LISTED_VIOLATIONS = 1000;

export interface LayoutOptions {
  where: ShareLabel;
  /** The SVM's shadow copy directory depth, 0 = unlimited. */
  depthLimit: number;
  /** Paths the request lists (normalised): such a file in the root is a VM file whatever its name. */
  listed: ReadonlySet<string>;
  maxListed?: number;
}

/**
 * Checks a share's entries as a walk streams them, batch by batch: keeps counts, the top-level
 * directories (the share's VMs by default) and the violations, never the entries themselves.
 */
export class LayoutTally {
  files = 0;
  directories = 0;
  others = 0;
  deepestFile = 0;
  notListed = 0;
  readonly violations: LayoutViolation[] = [];
  readonly topDirectories: string[] = [];
  private readonly maxListed: number;

  constructor(private readonly opts: LayoutOptions) {
    this.maxListed = opts.maxListed ?? MAX_LISTED_VIOLATIONS;
  }

  add(entries: Iterable<LayoutEntry>): void {
    const { depthLimit, listed, where } = this.opts;
    for (const e of entries) {
      if (e.kind === "file") {
        this.files++;
        if (e.depth > this.deepestFile) this.deepestFile = e.depth;
        if (e.depth === 0) this.report(strayAtRoot(e, listed, where));
      } else if (e.kind === "directory") {
        this.directories++;
        if (e.depth === 0) this.topDirectories.push(e.path);
        this.report(tooDeep(e, depthLimit, where));
      } else {
        this.others++;
        this.report(notRegular(e, where));
      }
    }
  }

  private report(v: LayoutViolation | null): void {
    if (!v) return;
    if (this.violations.length < this.maxListed) this.violations.push(v);
    else this.notListed++;
  }
}

/** A VM a share holds: its name, and its top-level directory (or first listed file). */
export interface VmInShare {
  name: string;
  path: string;
}

/** The VMs of one share, for rule 2. */
export interface ShareVms {
  svm: string;
  share: string;
  vms: VmInShare[];
}

/** The VMs a request names, placed at their first listed file. */
export function namedVms(vms: readonly VmFileList[]): VmInShare[] {
  return vms.map((vm) => ({ name: vm.name, path: vm.files[0] ?? "" }));
}

/** The share's VMs: the ones the request names, or by default its top-level directories. */
export function shareVms(named: readonly VmFileList[], topDirectories: readonly string[]): VmInShare[] {
  return named.length > 0 ? namedVms(named) : topDirectories.map((d) => ({ name: d, path: d }));
}

export interface SplitVmViolation extends LayoutViolation {
  svm: string;
  share: string;
}

/** Rule 2: a VM (by name) with files in two or more shares is reported once in each of them. */
export function vmsSplitAcrossShares(shares: readonly ShareVms[]): SplitVmViolation[] {
  const byName = new Map<string, { svm: string; share: string; name: string; path: string }[]>();
  for (const s of shares) {
    for (const vm of s.vms) {
      const key = vm.name.toLowerCase();
      const list = byName.get(key) ?? [];
      if (!list.some((x) => x.svm === s.svm && x.share.toLowerCase() === s.share.toLowerCase()))
        list.push({ svm: s.svm, share: s.share, ...vm });
      byName.set(key, list);
    }
  }
  const out: SplitVmViolation[] = [];
  for (const places of byName.values()) {
    if (places.length < 2) continue;
    const all = places.map((p) => `${p.svm}/${p.share}`).join(", ");
    for (const p of places) {
      out.push({
        svm: p.svm,
        share: p.share,
        path: p.path,
        rule: "vm-split-across-shares",
        message: `VM "${p.name}" has files in ${places.length} shares (${all}); all files of one VM must be in one share`,
      });
    }
  }
  return out;
}

/** A share's check result, as far as rule 2 needs it. */
export interface CheckedShareVms {
  svm: string;
  share: string;
  found: boolean;
  vms: VmInShare[];
  violations: { svm: string; share: string; path: string; rule: string; message: string }[];
}

/** The checks with rule 2's violations added to each share a split VM concerns. */
export function withSplitVms<C extends CheckedShareVms>(checks: readonly C[]): C[] {
  const split = vmsSplitAcrossShares(checks.filter((c) => c.found));
  return checks.map((c) => {
    const mine = split.filter((v) => v.svm === c.svm && v.share === c.share);
    return mine.length === 0 ? c : { ...c, violations: [...c.violations, ...mine] };
  });
}
