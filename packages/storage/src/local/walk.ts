/**
 * A concurrent, streaming walk of a directory tree. Each directory is read once with its entry types
 * (readdir with d_type: no stat per file), several directories at a time, and handed on as one batch
 * as soon as it is read; the walk keeps only directories still to read and a few batches the consumer
 * has not taken yet, never the whole tree. Symbolic links are reported, never followed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrorCodes, RvssError, type LayoutEntry } from "@rvss/core";
import { entryKind } from "./fs-safe";

export interface WalkOptions {
  /** Paths (relative to the root) of volume junctions: reported as kind "junction", never entered. */
  junctions?: readonly string[];
  /** Names skipped directly in the root (a volume's own .snapshot and .shadowcopy). */
  skipAtRoot?: readonly string[];
  /** Directories read at once. */
  concurrency?: number;
  /** Batches read ahead of the consumer before the walk waits for it. */
  readAhead?: number;
}

interface Dir {
  rel: string;
  /** Depth of the entries inside it. */
  depth: number;
}

/** Entries below `root`, one batch per directory, in no particular order. */
export async function* walkTree(root: string, opts: WalkOptions = {}): AsyncGenerator<LayoutEntry[]> {
  const concurrency = opts.concurrency ?? 16;
  const readAhead = opts.readAhead ?? 64;
  const junctions = new Set(opts.junctions ?? []);
  const skipAtRoot = new Set(opts.skipAtRoot ?? []);
  const pending: Dir[] = [{ rel: "", depth: 0 }];
  const ready: LayoutEntry[][] = [];
  let reading = 0;
  let failure: RvssError | null = null;
  let wake: (() => void) | null = null;

  if (junctions.size > 0)
    ready.push([...junctions].map((j) => ({ path: j, kind: "junction", depth: j.split("/").length - 1 })));

  // Callbacks rather than promises: one fewer allocation and microtask per directory.
  const read = (dir: Dir): void => {
    reading++;
    fs.readdir(path.join(root, dir.rel), { withFileTypes: true }, (err, dirents) => {
      reading--;
      if (err) {
        // A directory removed while the walk runs is simply gone; anything else stops the walk.
        if (err.code !== "ENOENT" || dir.rel === "") {
          failure ??= new RvssError(
            ErrorCodes.STORAGE_FAILED,
            `cannot read directory "${dir.rel || "."}" below ${root}: ${err.message}`,
            { path: dir.rel },
          );
        }
      } else {
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
        if (batch.length > 0) ready.push(batch);
      }
      const w = wake;
      wake = null;
      w?.();
    });
  };

  for (;;) {
    // Depth first (pop), so the directories waiting to be read stay few.
    while (failure === null && reading < concurrency && pending.length > 0 && ready.length < readAhead)
      read(pending.pop()!);
    if (ready.length > 0) {
      yield ready.shift()!;
      continue;
    }
    if (failure !== null) throw failure;
    if (reading === 0 && pending.length === 0) return;
    await new Promise<void>((resolve) => (wake = resolve));
  }
}
