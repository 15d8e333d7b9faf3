/**
 * A streaming walk of a directory tree. Each directory is read once with its entry types (readdir
 * with d_type: no stat per file), directly rather than through the thread pool (see eachInSlices:
 * a round trip costs more than the read of a cached directory), and handed on as one batch; the
 * event loop runs between slices of reads. The walk reads a directory only when the consumer asks
 * for the next batch and keeps only the directories still to read, never the whole tree. Symbolic
 * links are reported, never followed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrorCodes, RvssError, type LayoutEntry } from "@rvss/core";
import { entryKind, slicePauser } from "./fs-safe";

export interface WalkOptions {
  /** Paths (relative to the root) of volume junctions: reported as kind "junction", never entered. */
  junctions?: readonly string[];
  /** Names skipped directly in the root (a volume's own .snapshot and .shadowcopy). */
  skipAtRoot?: readonly string[];
}

interface Dir {
  rel: string;
  /** Depth of the entries inside it. */
  depth: number;
}

/** Entries below `root`, one batch per directory, in no particular order. */
export async function* walkTree(root: string, opts: WalkOptions = {}): AsyncGenerator<LayoutEntry[]> {
  const junctions = new Set(opts.junctions ?? []);
  const skipAtRoot = new Set(opts.skipAtRoot ?? []);
  if (junctions.size > 0)
    yield [...junctions].map((j): LayoutEntry => ({ path: j, kind: "junction", depth: j.split("/").length - 1 }));
  const pause = slicePauser();
  // Depth first (pop), so the directories waiting to be read stay few.
  const pending: Dir[] = [{ rel: "", depth: 0 }];
  for (let dir = pending.pop(); dir; dir = pending.pop()) {
    await pause();
    let dirents: fs.Dirent[];
    try {
      dirents = fs.readdirSync(path.join(root, dir.rel), { withFileTypes: true });
    } catch (err) {
      // A directory removed while the walk runs is simply gone; anything else stops the walk.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && dir.rel !== "") continue;
      throw new RvssError(
        ErrorCodes.STORAGE_FAILED,
        `cannot read directory "${dir.rel || "."}" below ${root}: ${(err as Error).message}`,
        { path: dir.rel },
      );
    }
    const batch: LayoutEntry[] = [];
    for (const d of dirents) {
      if (dir.rel === "" && skipAtRoot.has(d.name)) continue;
      const rel = dir.rel === "" ? d.name : `${dir.rel}/${d.name}`;
      const kind = entryKind(d);
      if (kind === "directory") {
        if (junctions.has(rel)) continue;
        pending.push({ rel, depth: dir.depth + 1 });
      }
      batch.push({ path: rel, kind, depth: dir.depth });
    }
    if (batch.length > 0) yield batch;
  }
}
