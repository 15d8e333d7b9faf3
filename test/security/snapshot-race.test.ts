/**
 * Symlink and FIFO races against managed backups, as an attacker with write access to a share (and
 * to its parent directory) and a writer with write access to the exposed copy would run them, on
 * XFS and btrfs loop images and on ext4, through the four services as processes. For a bounded
 * time, while backups run one after another, the attacker swaps in turn: a listed file for a
 * symlink to a root-only file outside the filer, a listed file for a FIFO, a directory of the share
 * for a symlink to a directory outside, the share root itself for such a symlink; and plants a
 * symlink and a FIFO in every exposed copy it sees. Afterwards no snapshot (and no verification of
 * one) holds a byte of the outside file, no sealed copy in a snapshot holds anything but regular
 * files and directories, every backup ended within a bound, and a clean backup completes.
 */
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { RvssClient } from "@rvss/client";
import { BackupState, type Backup } from "@rvss/proto";
import { loopFsUnavailable, type LoopFs, type LoopFsKind } from "@rvss/testkit";
import { startLoopSystem, type LoopSystem } from "../storage/loop-system";

const run = promisify(execFile);
const why = loopFsUnavailable();
if (why) console.warn(`skipping the snapshot race tests: ${why}`);
const describeRoot = why ? describe.skip : describe;

const ATTACK_MS = 5_000;
/** A backup that takes longer than this blocked on something (a FIFO open blocked for 107 s before). */
const BOUND_MS = 30_000;
const DISK_DIR = "vm1/Virtual Hard Disks";
const DISK = `${DISK_DIR}/vm1.vhdx`;
const CONF = "vm1/Virtual Machines/vm1.vmcx";
const MARKER = Buffer.from("OUTSIDE-THE-FILER-ROOT-ONLY-0600-");
const SECRET = Buffer.concat(Array.from({ length: 2048 }, () => MARKER));
const SECRET_SHA256 = createHash("sha256").update(SECRET).digest("hex");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    () => undefined,
  );

/** Every entry below `dir`, links and special files reported, never followed. */
async function entries(dir: string, rel = ""): Promise<{ rel: string; st: fs.Stats }[]> {
  const out: { rel: string; st: fs.Stats }[] = [];
  for (const name of await fsp.readdir(path.join(dir, rel)).catch(() => [] as string[])) {
    const r = rel ? `${rel}/${name}` : name;
    const st = await fsp.lstat(path.join(dir, r));
    out.push({ rel: r, st });
    if (st.isDirectory()) out.push(...(await entries(dir, r)));
  }
  return out;
}

describeRoot.each<LoopFsKind>(["xfs", "btrfs", "ext4"])("on %s", (kind) => {
  let sys: LoopSystem;
  let lfs: LoopFs;
  let client: RvssClient;
  let volDir: string;
  let shareDir: string;
  let outside: string;

  beforeAll(async () => {
    // The seal waits a little, as a writer's auto-recovery would: the exposed copy stays writable.
    sys = await startLoopSystem(kind, {
      name: "race",
      diskBytes: 256 * 1024,
      env: { RVSS_STORAGE_LATENCY: "seal=100" },
    });
    ({ lfs, client } = sys);
    ({ volDir, shareDir } = sys.filer);
    // Outside the filer, root's only: the secret, also where a swapped directory or share root leads.
    outside = path.join(lfs.mountPoint, "outside");
    for (const rel of ["secret", DISK, CONF]) {
      await fsp.mkdir(path.dirname(path.join(outside, rel)), { recursive: true });
      await fsp.writeFile(path.join(outside, rel), SECRET, { mode: 0o600 });
    }
  }, 120_000);

  // A service blocked in an open (the hole this looks for) would never stop by itself: stop() kills it.
  afterAll(() => sys?.stop());

  /** One attacker: swaps one thing at a time, holds it for a moment, puts it back. */
  async function attack(until: number, counts: Record<string, number>): Promise<void> {
    // FIFOs made once (Node has no mkfifo), in the volume (a btrfs volume is its own subvolume,
    // which nothing is renamed into from outside), outside the share.
    const pool = path.join(volDir, ".race-fifos");
    await fsp.mkdir(pool, { recursive: true });
    const fifos = Array.from({ length: 400 }, (_, i) => path.join(pool, `f${i}`));
    await run("mkfifo", fifos);
    const swapped = fifos.pop()!;
    const seen = new Map<string, boolean>();
    const hold = (ms = 3) => sleep(Math.random() * ms);
    const swaps: [string, () => Promise<void>][] = [
      [
        "file -> symlink to the secret",
        async () => {
          const f = path.join(shareDir, DISK);
          await fsp.rename(f, `${f}.aside`);
          await fsp.symlink(path.join(outside, "secret"), f);
          await hold();
          await fsp.rm(f);
          await fsp.rename(`${f}.aside`, f);
        },
      ],
      [
        "file -> FIFO",
        async () => {
          const f = path.join(shareDir, CONF);
          await fsp.rename(f, `${f}.aside`);
          await fsp.rename(swapped, f);
          await hold();
          await fsp.rename(f, swapped);
          await fsp.rename(`${f}.aside`, f);
        },
      ],
      [
        "directory -> symlink outside",
        async () => {
          const d = path.join(shareDir, DISK_DIR);
          await fsp.rename(d, `${d}.aside`);
          await fsp.symlink(path.join(outside, DISK_DIR), d);
          await hold();
          await fsp.rm(d);
          await fsp.rename(`${d}.aside`, d);
        },
      ],
      [
        "share root -> symlink outside",
        async () => {
          await fsp.rename(shareDir, `${shareDir}.aside`);
          await fsp.symlink(outside, shareDir);
          // Long enough for a whole copy to be made through it.
          await hold(30);
          await fsp.rm(shareDir);
          await fsp.rename(`${shareDir}.aside`, shareDir);
        },
      ],
    ];
    for (let i = 0; Date.now() < until; i++) {
      const [name, swap] = swaps[i % swaps.length]!;
      await swap();
      counts[name] = (counts[name] ?? 0) + 1;
      // The share is whole in between, so that backups also complete under attack.
      await hold(30);
      // A writer with the exposed share plants links and FIFOs in every other copy it sees.
      const copies = path.join(volDir, ".shadowcopy");
      for (const id of await fsp.readdir(copies).catch(() => [] as string[])) {
        if (id.startsWith(".") || id.endsWith(".json")) continue;
        if (!seen.has(id)) seen.set(id, seen.size % 2 === 0);
        if (!seen.get(id)) continue;
        const vm = path.join(copies, id, "vm1");
        const fifo = fifos.pop();
        await quiet(
          fsp.symlink(path.join(outside, "secret"), path.join(vm, `evil-${i}.vhdx`)).then(() => {
            counts["planted in an exposed copy"] = (counts["planted in an exposed copy"] ?? 0) + 1;
          }),
        );
        if (fifo) await quiet(fsp.rename(fifo, path.join(vm, `evil-${i}.fifo`)));
      }
    }
  }

  test(`${ATTACK_MS / 1000} s of swaps during backups: no outside byte in any snapshot, no backup blocks`, async () => {
    const counts: Record<string, number> = {};
    const until = Date.now() + ATTACK_MS;
    const attacker = attack(until, counts);
    const ended: { b: Backup; ms: number }[] = [];
    for (let i = 0; Date.now() < until; i++) {
      const t0 = Date.now();
      const files = i % 2 === 0 ? [DISK, CONF] : [];
      const created = await client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files }] });
      let b = await client.getBackup(created.id);
      while (b.state === BackupState.BACKUP_STATE_RUNNING && Date.now() - t0 < BOUND_MS + 5_000) {
        await sleep(50);
        b = await client.getBackup(created.id);
      }
      ended.push({ b, ms: Date.now() - t0 });
    }
    await attacker;
    const outcome = (b: Backup) => (b.state === BackupState.BACKUP_STATE_COMPLETED ? "completed" : b.reason);
    const tally: Record<string, number> = {};
    for (const { b } of ended) tally[outcome(b)] = (tally[outcome(b)] ?? 0) + 1;
    console.log(
      `${kind}: ${ended.length} backups in ${ATTACK_MS} ms of swaps ${JSON.stringify(counts)}; ` +
        `slowest ${Math.max(...ended.map((e) => e.ms))} ms; outcomes ${JSON.stringify(tally, null, 1)}`,
    );
    expect(ended.filter((e) => e.ms > BOUND_MS || e.b.state === BackupState.BACKUP_STATE_RUNNING)).toEqual([]);
    expect(counts["planted in an exposed copy"]).toBeGreaterThan(0);

    // The share is whole again: a clean backup completes.
    const clean = await client.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: [DISK, CONF] }] });
    let b = await client.getBackup(clean.id);
    for (const t0 = Date.now(); b.state === BackupState.BACKUP_STATE_RUNNING && Date.now() - t0 < BOUND_MS;) {
      await sleep(50);
      b = await client.getBackup(clean.id);
    }
    expect([b.state, b.reason]).toEqual([BackupState.BACKUP_STATE_COMPLETED, ""]);
    const completed = [...ended.map((e) => e.b), b].filter((x) => x.state === BackupState.BACKUP_STATE_COMPLETED);
    expect(completed.length).toBeGreaterThan(1);

    // Every snapshot the completed backups name gets its verification: the verifier blocked on nothing.
    const snapshots = path.join(volDir, ".snapshot");
    const names = completed.flatMap((x) => x.sets.flatMap((s) => s.snapshots.map((n) => n.name)));
    for (const t0 = Date.now(); Date.now() - t0 < BOUND_MS; await sleep(200)) {
      const verified = await fsp.readdir(path.join(snapshots, ".verified")).catch(() => [] as string[]);
      if (names.every((n) => verified.includes(`${n}.json`))) break;
    }
    const verified = await fsp.readdir(path.join(snapshots, ".verified")).catch(() => [] as string[]);
    expect(names.filter((n) => !verified.includes(`${n}.json`))).toEqual([]);

    // Nothing of the secret anywhere rvss keeps: snapshots, their verifications, copies left over.
    const leaks: string[] = [];
    const strange: string[] = [];
    for (const top of [snapshots, path.join(volDir, ".shadowcopy")]) {
      for (const { rel, st } of await entries(top)) {
        if (st.isFile()) {
          const bytes = await fsp.readFile(path.join(top, rel));
          if (bytes.includes(MARKER) || bytes.includes(Buffer.from(SECRET_SHA256))) leaks.push(rel);
        }
        // A sealed copy in a snapshot holds only regular files and directories (on btrfs the
        // snapshot is of the whole volume, whose live share is the attacker's to fill).
        const inCopy = top === snapshots && /^[^/]+\/\.shadowcopy\//.test(rel);
        if (inCopy && !st.isFile() && !st.isDirectory()) strange.push(rel);
      }
    }
    expect(leaks).toEqual([]);
    expect(strange).toEqual([]);
  }, 180_000);
});
