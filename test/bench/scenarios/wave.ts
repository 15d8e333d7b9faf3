/**
 * wave: one backup of 1,000 SVMs x 8 shares with ONTAP-like delays on every storage operation. Its
 * makespan is divided by the ideal makespan for the configured concurrency: ceil(sets / limit)
 * rounds of one set's critical path (a set's shares are handled in parallel). Target <= 1.1x.
 *
 * `--backend ontap` runs the same wave twice in one run: on the null backend with the latency
 * profile, then with the ontap backend against fake ONTAP clusters (BENCH_WAVE_CLUSTERS, default 50,
 * the SVMs spread over them) whose jobs take the same delays, and compares the two ratios: the ontap
 * wave's must be within 10 % of the null wave's. It prints the ONTAP calls per set by kind of call.
 * BENCH_WAVE_FAKE_THREADS spreads the fake clusters over that many worker threads (default one per
 * core; 1: all in this process's own thread, with the observer, where fifty clusters' calls queue
 * behind each other as no real estate's do).
 *
 * Each wave prints its CPU floor: the CPU seconds its processes used, spread over this machine's
 * cores. A makespan cannot be shorter, so where the ontap wave's floor is above 1.1 x the null
 * wave's ratio, the target cannot be shown on this machine, and the wave says so.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { ONTAP_LATENCY } from "@rvss/runtime";
import type { Scenario } from "../main";
import { startOntapEstate } from "../ontap-estate";
import { Observer, cpuByProcess, criticalPathMs, fmt, percentile, startBenchSystem } from "../system";

const SVMS = Number(process.env.BENCH_WAVE_SVMS ?? 1000);
const SHARES = 8;
const LIMIT = Number(process.env.BENCH_WAVE_LIMIT ?? 32);
const CLUSTERS = Number(process.env.BENCH_WAVE_CLUSTERS ?? 50);
/** Worker threads the fake clusters are spread over (1: all in the bench's own thread); default one per core. */
const FAKE_THREADS = Number(process.env.BENCH_WAVE_FAKE_THREADS ?? availableParallelism());

/** /proc/pressure/cpu "some avg60" (%) from which the CPU's queue counts in a run's makespan. */
const SATURATED = 20;

type Backend = "null" | "ontap";

/** The share of the last 60 s in which some runnable task waited for a CPU (Linux PSI); null where unreadable. */
function cpuPressure(): number | null {
  try {
    const m = /^some .*avg60=([0-9.]+)/m.exec(readFileSync("/proc/pressure/cpu", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

async function wave(print: (line: string) => void, backend: Backend): Promise<Record<string, unknown>> {
  const names = Array.from({ length: SVMS }, (_, s) => `wave-${s}`);
  const estate = backend === "ontap" ? await startOntapEstate(names, SHARES, CLUSTERS, FAKE_THREADS) : null;
  const storage: Record<string, string> = estate
    ? { RVSS_STORAGE: "ontap", RVSS_FILER_CONFIG: estate.configPath }
    : { RVSS_STORAGE_LATENCY: "ontap" };
  const sys = await startBenchSystem({
    ...storage,
    RVSS_MAX_CONCURRENT_SETS: String(LIMIT),
    RVSS_CONCURRENCY: String(2 * LIMIT),
  });
  const obs = await Observer.start(sys.nats.url);
  try {
    const dataset = names.flatMap((svm) =>
      Array.from({ length: SHARES }, (_, h) => ({ svm, share: `share${h}`, files: [] })),
    );
    const cpu0 = cpuByProcess(sys);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    const b = await sys.client.createBackup({ dataset });
    await obs.until(() => obs.finishedBackups.has(b.id), 30 * 60_000);
    const makespan = obs.finishedBackups.get(b.id)! - t0;
    const cpu1 = cpuByProcess(sys);
    const own = process.cpuUsage(own0);
    const seconds = makespan / 1000;
    const cpu = Object.fromEntries(Object.keys(cpu1).map((k) => [k, +((cpu1[k]! - cpu0[k]!) / seconds).toFixed(2)]));
    // This process holds the observer and, for ontap, every fake cluster.
    const rigS = (own.user + own.system) / 1e6;
    cpu[estate ? "bench (fake clusters)" : "bench"] = +(rigS / seconds).toFixed(2);
    const rvssS = Object.keys(cpu1).reduce((n, k) => n + cpu1[k]! - cpu0[k]!, 0);
    const pressure = cpuPressure();
    // The shortest makespan the CPU these processes used allows on this machine's cores.
    const cores = availableParallelism();
    const floorAllS = (rvssS + rigS) / cores;
    const floorRvssS = rvssS / cores;
    const final = await sys.client.getBackup(b.id);
    const critical = criticalPathMs(ONTAP_LATENCY);
    const ideal = Math.ceil(SVMS / LIMIT) * critical;
    const ratio = makespan / ideal;
    const latencies = [...obs.completed].map(([set, at]) => at - obs.started.get(set)!).filter((x) => x >= 0);
    const setP50 = percentile(latencies, 50);
    const setP99 = percentile(latencies, 99);
    // Time before the first set started and after the last one completed: planning and wrap-up.
    const firstStart = Math.min(...obs.started.values()) - t0;
    const lastDone = t0 + makespan - Math.max(...obs.completed.values());
    const kinds = estate ? await estate.callKinds() : new Map<string, number>();
    const calls = [...kinds.values()].reduce((n, k) => n + k, 0);
    print(
      `[${backend === "ontap" ? `ontap, ${CLUSTERS} fake clusters${FAKE_THREADS > 1 ? ` in ${FAKE_THREADS} threads` : ""}` : "null + latency"}] ${SVMS} SVMs x ${SHARES} shares = ${SVMS} sets, limit ${LIMIT} sets at once; backup ${final.progress?.setsCompleted} completed, ${final.progress?.setsFailed} failed`,
    );
    if (final.reason) print(`reason               ${final.reason}`);
    print(`makespan             ${fmt(seconds, 2)} s`);
    print(
      `ideal                ${fmt(ideal / 1000, 2)} s   (${Math.ceil(SVMS / LIMIT)} rounds x ${critical} ms critical path)`,
    );
    print(`set latency p50      ${fmt(setP50, 0)} ms  p99 ${fmt(setP99, 0)} ms  (set_started to set_completed)`);
    print(
      `first set started    ${fmt(firstStart, 0)} ms  after the call; the backup finished ${fmt(lastDone, 0)} ms after the last set`,
    );
    print(`ratio                ${fmt(ratio, 3)} x   target <= 1.1x ${ratio <= 1.1 ? "met" : "MISSED"}`);
    if (estate) {
      print(`ONTAP calls          ${fmt(calls, 0)}     (${fmt(calls / SVMS, 1)} per set)`);
      for (const [k, n] of [...kinds].sort((a, b) => b[1] - a[1])) print(`  ${fmt(n / SVMS, 2)} per set  ${k}`);
    }
    print(`CPU (cores busy)     ${JSON.stringify(cpu)}`);
    // Which side spent the machine's CPU, and whether tasks waited for it (any process's, other work's too).
    print(
      `CPU seconds          rvss and NATS ${fmt(rvssS, 1)} s, ${estate ? "fake clusters and observer" : "observer"} ${fmt(rigS, 1)} s; ${fmt((rvssS + rigS) / seconds, 2)} of ${availableParallelism()} cores busy`,
    );
    print(
      `CPU floor            ${fmt(floorAllS, 2)} s = ${fmt(floorAllS / (ideal / 1000), 3)}x the ideal for the CPU of every process here; ${fmt(floorRvssS, 2)} s = ${fmt(floorRvssS / (ideal / 1000), 3)}x for rvss and NATS alone`,
    );
    if (pressure !== null)
      print(
        `CPU pressure         some avg60 ${fmt(pressure, 1)} %${pressure >= SATURATED ? "   tasks waited for a CPU: the makespan measures the machine's load too" : ""}`,
      );
    return {
      backend,
      svms: SVMS,
      sharesPerSvm: SHARES,
      limit: LIMIT,
      makespanS: seconds,
      idealS: ideal / 1000,
      ratio,
      setLatencyP50Ms: setP50,
      setLatencyP99Ms: setP99,
      firstSetStartedMs: firstStart,
      finishedAfterLastSetMs: lastDone,
      setsCompleted: final.progress?.setsCompleted,
      cpuCoresBusy: cpu,
      cpuSeconds: { rvssAndNats: rvssS, [estate ? "fakeClustersAndObserver" : "observer"]: rigS },
      cpuFloorRatio: floorAllS / (ideal / 1000),
      cpuFloorRatioRvss: floorRvssS / (ideal / 1000),
      cpuPressureSomeAvg60: pressure,
      ...(estate
        ? {
            clusters: CLUSTERS,
            fakeThreads: FAKE_THREADS,
            ontapCalls: calls,
            callsPerSet: Object.fromEntries([...kinds].map(([k, n]) => [k, n / SVMS])),
          }
        : {}),
    };
  } finally {
    await obs.stop();
    await sys.stop();
    await estate?.stop();
  }
}

export const run: Scenario["run"] = async (print, flags) => {
  const backend = flags["backend"] ?? "null";
  if (backend !== "null" && backend !== "ontap")
    throw new Error(`--backend ${backend}: the wave runs on null or ontap`);
  const onNull = await wave(print, "null");
  if (backend === "null") return onNull;
  const onOntap = await wave(print, "ontap");
  const quotient = (onOntap["ratio"] as number) / (onNull["ratio"] as number);
  print(
    `ontap / null ratio   ${fmt(quotient, 3)} x   target within 10 % ${Math.abs(quotient - 1) <= 0.1 ? "met" : "MISSED"}`,
  );
  // Whether this machine can show the target at all: the ontap wave cannot end before its CPU is spent.
  const bound = 1.1 * (onNull["ratio"] as number);
  const floor = onOntap["cpuFloorRatio"] as number;
  const floorRvss = onOntap["cpuFloorRatioRvss"] as number;
  const reachable = floor <= bound;
  if (!reachable)
    print(
      `not reachable here   the ontap wave's CPU floor (${fmt(floor, 3)}x) is above 1.1 x the null wave's ratio (${fmt(bound, 3)}x); ${
        floorRvss <= bound
          ? `rvss and NATS alone (${fmt(floorRvss, 3)}x) are below it: the fake clusters' CPU on these cores makes the difference`
          : `so are rvss and NATS alone (${fmt(floorRvss, 3)}x), with the fake clusters beside them on these cores`
      }`,
    );
  return { null: onNull, ontap: onOntap, ontapOverNull: quotient, reachableOnThisMachine: reachable };
};
