/**
 * storage: what a backup costs on ext4, XFS (reflink=1) and btrfs loop images (their own, so other
 * work on this machine's disk does not move the statfs deltas),
 * with the local backend and the four services as processes. Per filesystem, measured within one run:
 *
 *   - the full FSRVP cycle through one client (Start..Commit+Expose, RecoveryComplete,
 *     DeleteShareMapping) on the peer's data set (9 files, 268 MB: four 64 MiB VHDX and small VM
 *     files), median of ROUNDS, beside a bare `cp -a` (`--reflink=always` on CoW) of the same share
 *     in the same rounds;
 *   - the same cycle on shares 16x larger (4 GiB; CoW filesystems only, the target is theirs), grown
 *     two ways: in bytes (the peer's 9 files, 1 GiB VHDX) and in VMs (16x the VMs, so 16x the files
 *     and directories too), the latter beside a bare `cp -a --reflink=always` of it in the same
 *     rounds: what scales with the entries scales for the kernel's own copy too;
 *   - the cycle on a 1-file share (the fixed cost);
 *   each timed part starts once the previous cycle's copy is removed (a deletion leaves that to the
 *   background, see LocalBackend.deleteShadowCopy): like the bare copy's removal, it is not timed,
 *   and it does not run beside the next timed part;
 *   - bytes one managed backup adds (statfs delta, after a flush);
 *   - what flushing a backup to disk costs (a syncfs right after the backup, measured apart from
 *     the timed cycles, which run in the page cache as the peer's did: the filer says
 *     syncSnapshots: false here; the default, true, flushes each snapshot before it is reported);
 *   - the SQLite reference writer's freeze (checkpoint to thaw) per managed backup at 200 tx/s.
 *
 * Root is needed for the loop images. BENCH_STORAGE_ROUNDS (default 15),
 * BENCH_STORAGE_BACKUPS (default 20), BENCH_STORAGE_FS (default "ext4,xfs,btrfs").
 */
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { AgentClient } from "@rvss/client";
import { BackupState } from "@rvss/proto";
import {
  btrfsSubvolume,
  loopFsUnavailable,
  mountLoopFs,
  removeTree,
  startSqliteWriterProcess,
  testPki,
  usedBytes,
  type LoopFs,
} from "@rvss/testkit";
import { LocalBackend } from "@rvss/storage";
import type { Scenario } from "../main";
import { Observer, fmt, percentile, startBenchSystem, type BenchSystem } from "../system";

const exec = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_STORAGE_ROUNDS ?? 15);
const BACKUPS = Number(process.env.BENCH_STORAGE_BACKUPS ?? 20);
const KINDS = (process.env.BENCH_STORAGE_FS ?? "ext4,xfs,btrfs").split(",");
const MiB = 1024 * 1024;
const AUTO_RECOVERY = 0x00400000;
const DBS = ["sqlvm/orders.sqlite", "sqlvm/ledger.sqlite"];

type Kind = "ext4" | "xfs" | "btrfs";

/**
 * The peer's VM set, `copies` times over: vmN with a VHDX (64 MiB, or `vhdx`) and its configuration;
 * vm1 also its state file.
 */
function vmFiles(copies: number, vhdx = 64 * MiB): [string, number][] {
  const out: [string, number][] = [];
  for (let i = 1; i <= 4 * copies; i++) {
    out.push([`vm${i}/Virtual Hard Disks/vm${i}.vhdx`, vhdx]);
    out.push([`vm${i}/Virtual Machines/vm${i}.vmcx`, 64 * 1024]);
  }
  out.push(["vm1/Virtual Machines/vm1.vmrs", 32 * 1024]);
  return out;
}

interface Share {
  svm: string;
  share: string;
  dir: string;
  bytes: number;
  files: number;
}

/** One SVM per share (an SVM serves one set at a time), each share on its own volume. */
async function buildFiler(root: string, kind: Kind): Promise<{ config: string; shares: Record<string, Share> }> {
  const layout: Record<string, [string, number][]> = {
    peer: vmFiles(1),
    big: kind === "ext4" ? [] : vmFiles(16),
    fat: kind === "ext4" ? [] : vmFiles(1, 1024 * MiB),
    one: [["vm1/Virtual Hard Disks/vm1.vhdx", 64 * 1024]],
    sql: [],
  };
  const shares: Record<string, Share> = {};
  const svms = [];
  for (const [name, files] of Object.entries(layout)) {
    if (files.length === 0 && name !== "sql") continue;
    const volDir = path.join(root, "filer", name, "vol");
    await fsp.mkdir(path.dirname(volDir), { recursive: true });
    if (kind === "btrfs") await btrfsSubvolume(volDir);
    const dir = path.join(volDir, "share");
    await fsp.mkdir(dir, { recursive: true });
    let bytes = 0;
    for (const [rel, size] of files) {
      await fsp.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      const h = await fsp.open(path.join(dir, rel), "w");
      for (let off = 0; off < size; off += 8 * MiB) await h.write(randomBytes(Math.min(8 * MiB, size - off)));
      await h.close();
      bytes += size;
    }
    if (name === "sql") await fsp.mkdir(path.join(dir, "sqlvm"));
    shares[name] = { svm: name, share: "share1", dir, bytes, files: files.length };
    svms.push({
      name,
      volumes: [{ name: "vol", junctionPath: "/vol" }],
      shares: [{ name: "share1", path: "/vol/share" }],
    });
  }
  const config = path.join(root, "filer.json");
  await fsp.writeFile(config, JSON.stringify({ root: "filer", syncSnapshots: false, svms }, null, 2));
  await exec("sync", ["-f", root]);
  return { config, shares };
}

/** One FSRVP cycle of one share through one client; milliseconds. */
async function cycle(client: AgentClient, share: Share): Promise<number> {
  const t0 = performance.now();
  await client.setContext(AUTO_RECOVERY);
  const { shadowCopySetId } = await client.startShadowCopySet(randomUUID());
  const unc = `\\\\${share.svm}\\${share.share}`;
  const { shadowCopyId } = await client.addToShadowCopySet(shadowCopySetId, unc);
  await client.prepareShadowCopySet(shadowCopySetId);
  await client.commitShadowCopySet(shadowCopySetId);
  await client.exposeShadowCopySet(shadowCopySetId);
  await client.recoveryCompleteShadowCopySet(shadowCopySetId);
  await client.deleteShareMapping(shadowCopySetId, shadowCopyId, unc);
  return performance.now() - t0;
}

/** A bare copy of the share beside it, as the peer's shell_snap does; milliseconds (the removal is not timed). */
async function bareCopy(share: Share, kind: Kind): Promise<number> {
  const dest = path.join(path.dirname(share.dir), `.bare-${randomUUID().slice(0, 8)}`);
  const t0 = performance.now();
  await exec("cp", ["-a", ...(kind === "ext4" ? [] : ["--reflink=always"]), share.dir, dest]);
  const ms = performance.now() - t0;
  await fsp.rm(dest, { recursive: true, force: true });
  return ms;
}

/**
 * Waits until the share's volume holds no deleted copy still being removed, so the removal runs
 * beside no timed part.
 */
async function removed(filer: LocalBackend, share: Share): Promise<void> {
  for (const end = Date.now() + 60_000; (await filer.deletedCopies(share.svm, "vol")) > 0;) {
    if (Date.now() > end) throw new Error(`the deleted copies of ${share.svm} were not removed within 60 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function managedBackup(sys: BenchSystem, obs: Observer, share: Share, files: string[] = []) {
  const b = await sys.client.createBackup({ dataset: [{ svm: share.svm, share: share.share, files }] });
  await obs.until(() => obs.finishedBackups.has(b.id), 120_000);
  const done = await sys.client.getBackup(b.id);
  if (done.state !== BackupState.BACKUP_STATE_COMPLETED)
    throw new Error(`backup ${b.id} of ${share.svm}/${share.share} ended ${done.state}: ${done.reason}`);
  return done;
}

const median = (xs: number[]) => percentile(xs, 50);

interface Figures {
  fs: string;
  cow: string;
  cycleMs: number;
  bareCopyMs: number;
  cycleVsCopy: number;
  /** 4 GiB in 16x the VMs (16x the entries). */
  bigCycleMs: number | null;
  bigVsPeer: number | null;
  /** The bare copy of the 16x-VM share against the peer's. */
  bigCopyVsPeerCopy: number | null;
  /** 4 GiB in the peer's 9 files: what scales with the bytes alone. */
  fatCycleMs: number | null;
  fatVsPeer: number | null;
  fixedMs: number;
  addedBytes: number;
  syncMs: number;
  freezeMs: number;
}

async function measure(kind: Kind, print: (l: string) => void): Promise<Figures> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), `rvss-bench-storage-${kind}-`));
  let lfs: LoopFs | null = null;
  let sys: BenchSystem | null = null;
  let obs: Observer | null = null;
  try {
    lfs = await mountLoopFs(kind, dir, kind === "ext4" ? 2048 : 12 * 1024);
    const root = lfs.mountPoint;
    print(`${kind}: writing the data sets (the peer's share${kind === "ext4" ? "" : " and two of 4 GiB"}) ...`);
    const { config, shares } = await buildFiler(root, kind);
    const filer = LocalBackend.fromFile(config);
    sys = await startBenchSystem({ RVSS_STORAGE: "local", RVSS_FILER_CONFIG: config, RVSS_LOG_LEVEL: "warn" });
    obs = await Observer.start(sys.nats.url);
    const agent = (svm: string) => new AgentClient(sys!.client.address, svm, testPki().clientAuth("backup-operator"));
    const peer = agent("peer");
    const one = agent("one");
    const big = shares.big ? agent("big") : null;
    const fat = shares.fat ? agent("fat") : null;
    const cycles: number[] = [];
    const copies: number[] = [];
    const bigs: number[] = [];
    const bigCopies: number[] = [];
    const fats: number[] = [];
    const fixed: number[] = [];
    const timed = async (client: AgentClient, share: Share): Promise<number> => {
      const ms = await cycle(client, share);
      await removed(filer, share);
      return ms;
    };
    await timed(peer, shares.peer!); // warm-up
    await timed(one, shares.one!);
    if (big) await timed(big, shares.big!);
    if (fat) await timed(fat, shares.fat!);
    for (let i = 0; i < ROUNDS; i++) {
      cycles.push(await timed(peer, shares.peer!));
      copies.push(await bareCopy(shares.peer!, kind));
      fixed.push(await timed(one, shares.one!));
      if (big) bigs.push(await timed(big, shares.big!));
      if (big) bigCopies.push(await bareCopy(shares.big!, kind));
      if (fat) fats.push(await timed(fat, shares.fat!));
    }
    for (const c of [peer, one, big, fat]) c?.close();

    // Space and durability of managed backups (their snapshots are kept, as a backup's are).
    const added: number[] = [];
    const syncs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = await usedBytes(root);
      await managedBackup(sys, obs, shares.peer!);
      const t0 = performance.now();
      await exec("sync", ["-f", root]);
      syncs.push(performance.now() - t0);
      added.push((await usedBytes(root)) - before);
    }

    const writer = await startSqliteWriterProcess({
      natsUrl: sys.nats.url,
      svm: "sql",
      share: "share1",
      dir: shares.sql!.dir,
      databases: DBS,
      rate: 200,
      name: `bench-sqlite-${kind}`,
    });
    const freezes: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < BACKUPS; i++) {
        const b = await managedBackup(sys, obs, shares.sql!, DBS);
        const thaw = b.sets[0]!.writerSteps.find((s) => s.step === "thaw");
        freezes.push(Number(/frozen_ms=(\d+)/.exec(thaw?.report?.detail ?? "")?.[1] ?? NaN));
      }
    } finally {
      await writer.stop();
    }
    const caps = await exec("findmnt", ["-no", "FSTYPE", "-T", root]).then((r) => r.stdout.trim());
    const f: Figures = {
      fs: caps,
      cow: kind === "ext4" ? "none" : kind === "xfs" ? "reflink" : "btrfs",
      cycleMs: median(cycles),
      bareCopyMs: median(copies),
      cycleVsCopy: median(cycles) / median(copies),
      bigCycleMs: big ? median(bigs) : null,
      bigVsPeer: big ? median(bigs) / median(cycles) : null,
      bigCopyVsPeerCopy: big ? median(bigCopies) / median(copies) : null,
      fatCycleMs: fat ? median(fats) : null,
      fatVsPeer: fat ? median(fats) / median(cycles) : null,
      fixedMs: median(fixed),
      addedBytes: median(added),
      syncMs: median(syncs),
      freezeMs: median(freezes),
    };
    return f;
  } finally {
    await obs?.stop();
    await sys?.stop();
    if (lfs) {
      await removeTree(path.join(lfs.mountPoint, "filer")).catch(() => undefined);
      await lfs.dispose();
    }
    await removeTree(dir);
  }
}

export const run: Scenario["run"] = async (print) => {
  const kinds = KINDS.filter((k): k is Kind => k === "ext4" || k === "xfs" || k === "btrfs");
  const why = loopFsUnavailable();
  if (why) throw new Error(`the storage benchmark runs on loop images: ${why}`);
  const all: Figures[] = [];
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
  const loadBefore = load();
  for (const k of kinds) all.push(await measure(k, print));

  const ms = (n: number | null) => (n === null ? "     n/a" : fmt(n));
  const x = (n: number | null) => (n === null ? "   n/a" : `${n.toFixed(2)}x`.padStart(6));
  const mib = (n: number) => `${(n / MiB).toFixed(2)} MiB`.padStart(11);
  const met = (ok: boolean | null) => (ok === null ? "" : ok ? "met" : "MISSED");
  print("");
  print(`medians; cycles over ${ROUNDS} rounds, freeze over ${BACKUPS} backups; the timed parts run in the page cache`);
  print(`load average (1, 5, 15 min) before ${loadBefore}, after ${load()}`);
  print(
    "fs     cow      cycle ms  cp -a ms  cycle/cp (ext4 <= 1.3x)  4GiB in 9 files ms  /peer (CoW <= 1.2x)  4GiB in 16x VMs ms  /peer (CoW <= 1.2x)  its cp -a/peer's  1-file ms (<= 30)  added/backup (CoW <= 1 MiB)  sync ms  freeze ms (XFS, btrfs <= 20)",
  );
  for (const f of all) {
    const cow = f.cow !== "none";
    print(
      [
        f.fs.padEnd(6),
        f.cow.padEnd(7),
        ms(f.cycleMs),
        ms(f.bareCopyMs),
        `  ${x(f.cycleVsCopy)} ${met(cow ? null : f.cycleVsCopy <= 1.3).padEnd(6)}        `,
        `        ${ms(f.fatCycleMs)}  `,
        `  ${x(f.fatVsPeer)} ${met(cow ? (f.fatVsPeer ?? Infinity) <= 1.2 : null).padEnd(6)}   `,
        `        ${ms(f.bigCycleMs)}  `,
        `  ${x(f.bigVsPeer)} ${met(cow ? (f.bigVsPeer ?? Infinity) <= 1.2 : null).padEnd(6)}   `,
        `    ${x(f.bigCopyVsPeerCopy)}     `,
        `${ms(f.fixedMs)} ${met(f.fixedMs <= 30).padEnd(6)}   `,
        `${mib(f.addedBytes)} ${met(cow ? f.addedBytes <= MiB : null).padEnd(6)}          `,
        ms(f.syncMs),
        `${ms(f.freezeMs)} ${met(cow ? f.freezeMs <= 20 : null)}`,
      ].join(" "),
    );
  }
  return { rounds: ROUNDS, backups: BACKUPS, loadBefore, loadAfter: load(), filesystems: all };
};
