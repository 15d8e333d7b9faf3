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

export const run: Scenario["run"] = async (print) => {
  const sys = await startFsrvpSystem(["bench1"]);
  const parts = {
    createExpose: [] as number[],
    recovery: [] as number[],
    delete: [] as number[],
    cycle: [] as number[],
  };
  try {
    const c = await sys.client("bench1");
    const share = unc("bench1", "share1");
    for (let i = -WARMUP; i < CYCLES; i++) {
      const t0 = performance.now();
      await c.setContext(0x400000);
      const { shadowCopySetId: setId } = await c.startShadowCopySet(SET_ID);
      const { shadowCopyId } = await c.addToShadowCopySet(setId, share);
      await c.prepareShadowCopySet(setId);
      await c.commitShadowCopySet(setId);
      await c.exposeShadowCopySet(setId);
      const t1 = performance.now();
      await c.recoveryCompleteShadowCopySet(setId);
      const t2 = performance.now();
      await c.deleteShareMapping(setId, shadowCopyId, share);
      const t3 = performance.now();
      if (i < 0) continue;
      parts.createExpose.push(t1 - t0);
      parts.recovery.push(t2 - t1);
      parts.delete.push(t3 - t2);
      parts.cycle.push(t3 - t0);
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
  return {
    cycles: CYCLES,
    createExposeMs: med(parts.createExpose),
    recoveryMs: med(parts.recovery),
    deleteMs: med(parts.delete),
    cycleMs: cycle,
    p99CycleMs: percentile(parts.cycle, 99),
    clientStartupMs: med(startup),
  };
};
