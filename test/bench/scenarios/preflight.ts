/**
 * preflight: how long validating a large share takes, next to `find -P <tree> -type f` on the same
 * tree in the same run. The tree is a clean Remote VSS layout of 100,000 files at depth 5 (five
 * directories per level, 32 files in each of the 3,125 deepest), so every entry is walked and checked.
 * Validation runs in-process through share-discovery's checkShare: the walk and the rules that
 * `rvss validate` and every set run. Target: at most 3 times find.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { checkShare } from "@rvss/share-discovery";
import { LocalBackend } from "@rvss/storage";
import { removeTree } from "@rvss/testkit";
import type { Scenario } from "../main";

const FANOUT = 5;
const DEPTH = 5;
const FILES_PER_DIR = 32;
const RUNS = 5;
const TARGET = 3;

/** Builds the tree; returns the number of directories made. */
function build(dir: string, depth = 0): number {
  if (depth === DEPTH) {
    for (let f = 0; f < FILES_PER_DIR; f++) fs.closeSync(fs.openSync(path.join(dir, `disk${f}.vhdx`), "w"));
    return 0;
  }
  let dirs = 0;
  for (let d = 0; d < FANOUT; d++) {
    const sub = path.join(dir, `${depth === 0 ? "vm" : "d"}${d}`);
    fs.mkdirSync(sub);
    dirs += 1 + build(sub, depth + 1);
  }
  return dirs;
}

function find(tree: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("find", ["-P", tree, "-type", "f"], { stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`find exited ${code}`)),
    );
  });
}

function countFound(tree: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let lines = 0;
    const child = spawn("find", ["-P", tree, "-type", "f"], { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.on("data", (b: Buffer) => {
      for (const c of b) if (c === 10) lines++;
    });
    child.on("error", reject);
    child.on("exit", () => resolve(lines));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export const run: Scenario["run"] = async (print) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-bench-preflight-"));
  try {
    const tree = path.join(dir, "filer", "bench", "vol", "share");
    fs.mkdirSync(tree, { recursive: true });
    const filerConfig = {
      root: "filer",
      svms: [
        {
          name: "bench",
          shadowCopyDirDepth: DEPTH,
          volumes: [{ name: "vol", junctionPath: "/vol" }],
          shares: [{ name: "big", path: "/vol/share" }],
        },
      ],
    };
    fs.writeFileSync(path.join(dir, "filer.json"), JSON.stringify(filerConfig));
    const t0 = performance.now();
    const directories = build(tree);
    const files = FANOUT ** DEPTH * FILES_PER_DIR;
    print(
      `tree: ${files} files in ${directories} directories, depth ${DEPTH}, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const backend = LocalBackend.fromFile(path.join(dir, "filer.json"));
    const validate = async (): Promise<number> => {
      const t = performance.now();
      const c = await checkShare(backend, "bench", { svm: "bench", share: "big", files: [], vms: [] });
      const ms = performance.now() - t;
      if (c.layout?.files !== files || c.violations.length > 0)
        throw new Error(`validate saw ${c.layout?.files} files and ${c.violations.length} violations`);
      return ms;
    };
    // Warm the caches for both, and check that find sees the same tree.
    await validate();
    const found = await countFound(tree);
    if (found !== files) throw new Error(`find saw ${found} files, expected ${files}`);

    const validateMs: number[] = [];
    const findMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      validateMs.push(await validate());
      findMs.push(await find(tree));
    }
    const ratio = median(validateMs) / median(findMs);
    const row = (name: string, xs: number[]) =>
      `${name.padEnd(22)} ${median(xs).toFixed(1).padStart(8)} ms   ${xs.map((x) => x.toFixed(0)).join(" ")}`;
    print(`${"".padEnd(22)} ${"median".padStart(11)}   runs (ms)`);
    print(row("rvss validate", validateMs));
    print(row("find -P <tree> -type f", findMs));
    print(
      `ratio validate / find  ${ratio.toFixed(2).padStart(8)} x    target <= ${TARGET} x: ${ratio <= TARGET ? "met" : "NOT met"}`,
    );
    return {
      files,
      directories,
      depth: DEPTH,
      runs: RUNS,
      validateMs,
      findMs,
      medianValidateMs: median(validateMs),
      medianFindMs: median(findMs),
      ratio,
      target: TARGET,
    };
  } finally {
    await removeTree(dir);
  }
};
