/**
 * wave: one backup of 1,000 SVMs x 8 shares with ONTAP-like delays on every storage operation. Its
 * makespan is divided by the ideal makespan for the configured concurrency: ceil(sets / limit)
 * rounds of one set's critical path (a set's shares are handled in parallel). Target <= 1.1x.
 */
import { ONTAP_LATENCY } from "@rvss/runtime";
import type { Scenario } from "../main";
import { Observer, cpuByProcess, criticalPathMs, fmt, startBenchSystem } from "../system";

const SVMS = Number(process.env.BENCH_WAVE_SVMS ?? 1000);
const SHARES = 8;
const LIMIT = Number(process.env.BENCH_WAVE_LIMIT ?? 32);

export const run: Scenario["run"] = async (print) => {
  const sys = await startBenchSystem({
    RVSS_STORAGE_LATENCY: "ontap",
    RVSS_MAX_CONCURRENT_SETS: String(LIMIT),
    RVSS_CONCURRENCY: String(2 * LIMIT),
  });
  const obs = await Observer.start(sys.nats.url);
  try {
    const dataset = Array.from({ length: SVMS }, (_, s) =>
      Array.from({ length: SHARES }, (_, h) => ({ svm: `wave-${s}`, share: `share${h}`, files: [] })),
    ).flat();
    const cpu0 = cpuByProcess(sys);
    const t0 = performance.now();
    const b = await sys.client.createBackup({ dataset });
    await obs.until(() => obs.finishedBackups.has(b.id), 30 * 60_000);
    const makespan = obs.finishedBackups.get(b.id)! - t0;
    const cpu1 = cpuByProcess(sys);
    const seconds = makespan / 1000;
    const cpu = Object.fromEntries(Object.keys(cpu1).map((k) => [k, +((cpu1[k]! - cpu0[k]!) / seconds).toFixed(2)]));
    const final = await sys.client.getBackup(b.id);
    const critical = criticalPathMs(ONTAP_LATENCY);
    const ideal = Math.ceil(SVMS / LIMIT) * critical;
    const ratio = makespan / ideal;
    print(
      `${SVMS} SVMs x ${SHARES} shares = ${SVMS} sets, limit ${LIMIT} sets at once; backup ${final.progress?.setsCompleted} completed, ${final.progress?.setsFailed} failed`,
    );
    print(`makespan             ${fmt(seconds, 2)} s`);
    print(
      `ideal                ${fmt(ideal / 1000, 2)} s   (${Math.ceil(SVMS / LIMIT)} rounds x ${critical} ms critical path)`,
    );
    print(`ratio                ${fmt(ratio, 3)} x   target <= 1.1x ${ratio <= 1.1 ? "met" : "MISSED"}`);
    print(`CPU (cores busy)     ${JSON.stringify(cpu)}`);
    return {
      svms: SVMS,
      sharesPerSvm: SHARES,
      limit: LIMIT,
      makespanS: seconds,
      idealS: ideal / 1000,
      ratio,
      setsCompleted: final.progress?.setsCompleted,
      cpuCoresBusy: cpu,
    };
  } finally {
    await obs.stop();
    await sys.stop();
  }
};
