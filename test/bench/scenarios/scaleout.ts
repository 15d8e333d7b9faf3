/**
 * scale-out: throughput with 1, 2 and 4 snapshot-executor replicas when the executor is the
 * bottleneck: every storage operation has its ONTAP-like delay and each replica handles a few
 * commands at a time. Replicas share one durable consumer and pull only what they can work on, so
 * adding replicas should add throughput. Targets: 2 replicas >= 1.8x, 4 replicas >= 3.4x.
 */
import type { Scenario } from "../main";
import { Observer, fmt, startBenchSystem } from "../system";

const SECONDS = Number(process.env.BENCH_SCALEOUT_SECONDS ?? 20);
const WARMUP_S = 4;
const PER_REPLICA = 4;

async function measure(replicas: number): Promise<number> {
  const sys = await startBenchSystem(
    { RVSS_STORAGE_LATENCY: "ontap", RVSS_MAX_CONCURRENT_SETS: "256", RVSS_CONCURRENCY: "64" },
    {
      replicas: { "snapshot-executor": replicas },
      perService: { "snapshot-executor": { RVSS_CONCURRENCY: String(PER_REPLICA) } },
    },
  );
  const obs = await Observer.start(sys.nats.url);
  let submitted = 0;
  let stop = false;
  const feed = (async () => {
    while (!stop) {
      if (submitted - obs.completed.size < 200) {
        const first = submitted;
        await sys.client.createBackup({
          dataset: Array.from({ length: 50 }, (_, i) => ({
            svm: `so-${(first + i) % 400}`,
            share: "share1",
            files: [],
          })),
        });
        submitted += 50;
      } else await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const done0 = obs.completed.size;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, (SECONDS - WARMUP_S) * 1000));
    return (obs.completed.size - done0) / ((performance.now() - t0) / 1000);
  } finally {
    stop = true;
    await feed.catch(() => undefined);
    await obs.stop();
    await sys.stop();
  }
}

export const run: Scenario["run"] = async (print) => {
  const rates: Record<number, number> = {};
  for (const n of [1, 2, 4]) rates[n] = await measure(n);
  const r2 = rates[2]! / rates[1]!;
  const r4 = rates[4]! / rates[1]!;
  print(
    `each replica handles ${PER_REPLICA} commands at once; ONTAP-like delays; ${SECONDS - WARMUP_S} s measured per run`,
  );
  print(`replicas   sets/s     vs 1      target`);
  print(`1        ${fmt(rates[1]!)}    1.00x`);
  print(`2        ${fmt(rates[2]!)}   ${fmt(r2, 2)}x   >= 1.8x ${r2 >= 1.8 ? "met" : "MISSED"}`);
  print(`4        ${fmt(rates[4]!)}   ${fmt(r4, 2)}x   >= 3.4x ${r4 >= 3.4 ? "met" : "MISSED"}`);
  return { perReplicaConcurrency: PER_REPLICA, setsPerSecond: rates, ratio2: r2, ratio4: r4 };
};
