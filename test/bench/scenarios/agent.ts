/**
 * agent: the fixed cost of a full FSRVP cycle through the ShadowCopyAgent, on a share of one 256 KiB
 * file, driven by one persistent client against the four services as processes (local backend):
 * create+expose (SetContext, StartShadowCopySet, AddToShadowCopySet, Prepare, Commit, Expose),
 * recovery (RecoveryCompleteShadowCopySet), delete (DeleteShareMapping). Median per part over the
 * cycles, and what a fresh Node process needs to start and load @rvss/client.
 * Target: the whole cycle <= 30 ms.
 */
import { execFileSync } from "node:child_process";
import type { Scenario } from "../main";
import { fmt, percentile } from "../system";
import { startFsrvpSystem, unc } from "../../fsrvp/system";

const CYCLES = Number(process.env.BENCH_AGENT_CYCLES ?? 40);
const WARMUP = 5;
const SET_ID = "b1b1b1b1-0000-4000-8000-000000000001";
const CALLS = [
  "SetContext",
  "StartShadowCopySet",
  "AddToShadowCopySet",
  "PrepareShadowCopySet",
  "CommitShadowCopySet",
  "ExposeShadowCopySet",
  "RecoveryCompleteShadowCopySet",
  "DeleteShareMapping",
];

export const run: Scenario["run"] = async (print) => {
  const sys = await startFsrvpSystem(["bench1"]);
  const parts = {
    createExpose: [] as number[],
    recovery: [] as number[],
    delete: [] as number[],
    cycle: [] as number[],
  };
  const calls: Record<string, number[]> = Object.fromEntries(CALLS.map((n) => [n, []]));
  try {
    const c = await sys.client("bench1");
    const share = unc("bench1", "share1");
    for (let i = -WARMUP; i < CYCLES; i++) {
      const at: number[] = [performance.now()];
      const step = async <T>(p: Promise<T>): Promise<T> => {
        const v = await p;
        at.push(performance.now());
        return v;
      };
      await step(c.setContext(0x400000));
      const { shadowCopySetId: setId } = await step(c.startShadowCopySet(SET_ID));
      const { shadowCopyId } = await step(c.addToShadowCopySet(setId, share));
      await step(c.prepareShadowCopySet(setId));
      await step(c.commitShadowCopySet(setId));
      await step(c.exposeShadowCopySet(setId));
      await step(c.recoveryCompleteShadowCopySet(setId));
      await step(c.deleteShareMapping(setId, shadowCopyId, share));
      if (i < 0) continue;
      CALLS.forEach((name, k) => calls[name]!.push(at[k + 1]! - at[k]!));
      parts.createExpose.push(at[6]! - at[0]!);
      parts.recovery.push(at[7]! - at[6]!);
      parts.delete.push(at[8]! - at[7]!);
      parts.cycle.push(at[8]! - at[0]!);
    }
  } finally {
    await sys.stop();
  }
  const startup: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, ["-e", 'require("@rvss/client")'], { cwd: __dirname });
    startup.push(performance.now() - t0);
  }
  const med = (xs: number[]) => percentile(xs, 50);
  const cycle = med(parts.cycle);
  print(`part (median of ${CYCLES} cycles, 1-file share)   ms`);
  print(`create + expose (6 calls)                 ${fmt(med(parts.createExpose))}`);
  print(`recovery complete                         ${fmt(med(parts.recovery))}`);
  print(`delete share mapping                      ${fmt(med(parts.delete))}`);
  print(`whole cycle                               ${fmt(cycle)}   target <= 30 ms ${cycle <= 30 ? "met" : "MISSED"}`);
  print(`a fresh node process loading @rvss/client ${fmt(med(startup))}   (not part of the cycle)`);
  print(`per call (median ms): ${CALLS.map((n) => `${n} ${fmt(med(calls[n]!))}`).join(", ")}`);
  return {
    cycles: CYCLES,
    createExposeMs: med(parts.createExpose),
    recoveryMs: med(parts.recovery),
    deleteMs: med(parts.delete),
    cycleMs: cycle,
    p99CycleMs: percentile(parts.cycle, 99),
    clientStartupMs: med(startup),
    callMs: Object.fromEntries(CALLS.map((n) => [n, med(calls[n]!)])),
  };
};
