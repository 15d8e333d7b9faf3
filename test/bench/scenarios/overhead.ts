/**
 * overhead: how much time rvss adds to the storage time of one set. Sets run one after another
 * (nothing queues) with ONTAP-like delays on every storage operation; each set's latency, from
 * CreateBackup to its set_completed event, is divided by the critical path of the injected delays.
 * Targets: p50 <= 1.15x, p99 <= 1.3x.
 */
import { randomUUID } from "node:crypto";
import { ONTAP_LATENCY } from "@rvss/runtime";
import type { Scenario } from "../main";
import { Observer, criticalPathMs, fmt, percentile, startBenchSystem } from "../system";

const SETS = Number(process.env.BENCH_OVERHEAD_SETS ?? 60);

export const run: Scenario["run"] = async (print) => {
  const sys = await startBenchSystem({ RVSS_STORAGE_LATENCY: "ontap" });
  const obs = await Observer.start(sys.nats.url);
  const critical = criticalPathMs(ONTAP_LATENCY);
  const ratios: number[] = [];
  const latencies: number[] = [];
  try {
    for (let i = -5; i < SETS; i++) {
      const t0 = performance.now();
      const b = await sys.client.createBackup({
        dataset: [{ svm: `ov-${i % 4}`, share: `share-${randomUUID().slice(0, 8)}`, files: [] }],
      });
      await obs.until(() => obs.finishedBackups.has(b.id), 30_000);
      const setId = (await sys.client.getBackup(b.id)).sets[0]!.setId;
      const latency = obs.completed.get(setId)! - t0;
      if (i < 0) continue; // warm-up
      latencies.push(latency);
      ratios.push(latency / critical);
    }
  } finally {
    await obs.stop();
    await sys.stop();
  }
  const p50 = percentile(ratios, 50);
  const p99 = percentile(ratios, 99);
  print(
    `critical path of injected delays: ${critical} ms (resolve ${ONTAP_LATENCY.resolve}, clone ${ONTAP_LATENCY.clone}, expose ${ONTAP_LATENCY.expose}, seal ${ONTAP_LATENCY.seal}, snapshot ${ONTAP_LATENCY.snapshot}, cleanup ${ONTAP_LATENCY.cleanup})`,
  );
  print(`                 latency ms   ratio    target`);
  print(
    `p50 over ${SETS} sets ${fmt(percentile(latencies, 50))}  ${fmt(p50, 3)}x  <= 1.15x ${p50 <= 1.15 ? "met" : "MISSED"}`,
  );
  print(
    `p99              ${fmt(percentile(latencies, 99))}  ${fmt(p99, 3)}x  <= 1.30x ${p99 <= 1.3 ? "met" : "MISSED"}`,
  );
  return {
    sets: SETS,
    criticalPathMs: critical,
    p50LatencyMs: percentile(latencies, 50),
    p99LatencyMs: percentile(latencies, 99),
    p50Ratio: p50,
    p99Ratio: p99,
  };
};
