/**
 * throughput: complete sets per second with the zero-cost (null) storage backend, all services and
 * nats-server on this machine, and how many JetStream messages one set costs. Backups of 50 SVMs
 * each, over a fixed estate of 512 SVMs, are kept coming so that work never runs out. Targets:
 * >= 150 sets/s, <= 16 messages per set on the command, event and timer streams (the backups' own
 * two events are shown apart; KV writes are reported beside it).
 */
import type { Scenario } from "../main";
import { KV_STREAM, MESSAGE_STREAMS, Observer, cpuByProcess, fmt, startBenchSystem } from "../system";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const WARMUP_S = 5;
const SVMS_PER_BACKUP = 50;
const LIMIT = 256;
/** A fixed estate of SVMs, backed up over and over, as in a real shop. */
const SVM_POOL = 512;

export const run: Scenario["run"] = async (print) => {
  const sys = await startBenchSystem({ RVSS_MAX_CONCURRENT_SETS: String(LIMIT), RVSS_CONCURRENCY: "64" });
  const obs = await Observer.start(sys.nats.url);
  let submitted = 0;
  let stop = false;
  const feed = (async () => {
    while (!stop) {
      if (submitted - obs.completed.size < 2 * LIMIT) {
        const first = submitted;
        await sys.client.createBackup({
          dataset: Array.from({ length: SVMS_PER_BACKUP }, (_, i) => ({
            svm: `tp-${(first + i) % SVM_POOL}`,
            share: "share1",
            files: [],
          })),
        });
        submitted += SVMS_PER_BACKUP;
      } else {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  })();
  try {
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const seq0 = await sys.streamSequences();
    const cpu0 = cpuByProcess(sys);
    const done0 = obs.completed.size;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, (SECONDS - WARMUP_S) * 1000));
    const seconds = (performance.now() - t0) / 1000;
    const sets = obs.completed.size - done0;
    const seq1 = await sys.streamSequences();
    const cpu1 = cpuByProcess(sys);
    const cpu = Object.fromEntries(Object.keys(cpu1).map((k) => [k, +((cpu1[k]! - cpu0[k]!) / seconds).toFixed(2)]));
    stop = true;
    await feed;
    const messages = MESSAGE_STREAMS.reduce((n, s) => n + (seq1[s]! - seq0[s]!), 0);
    const kv = seq1[KV_STREAM]! - seq0[KV_STREAM]!;
    const perStream = Object.fromEntries(MESSAGE_STREAMS.map((s) => [s, +((seq1[s]! - seq0[s]!) / sets).toFixed(2)]));
    const rate = sets / seconds;
    const perSet = messages / sets;
    // Each backup adds backup_created and backup_finished, shared by its sets: not the set's own work.
    const ownPerSet = perSet - 2 / SVMS_PER_BACKUP;
    print(`measured over ${seconds.toFixed(1)} s after ${WARMUP_S} s warm-up; ${obs.aborted.size} sets aborted`);
    print(`sets completed            ${fmt(sets, 0)}`);
    print(`sets per second           ${fmt(rate)}   target >= 150   ${rate >= 150 ? "met" : "MISSED"}`);
    print(
      `stream messages per set   ${fmt(ownPerSet, 2)}   target <= 16    ${ownPerSet <= 16 ? "met" : "MISSED"}   (the set's own commands, events and timers)`,
    );
    print(
      `  all included            ${fmt(perSet, 2)}   (+ 2 backup events per ${SVMS_PER_BACKUP}-SVM backup)   ${JSON.stringify(perStream)}`,
    );
    print(`KV writes per set         ${fmt(kv / sets, 2)}`);
    print(`CPU (cores busy)          ${JSON.stringify(cpu)}`);
    return {
      seconds,
      sets,
      setsPerSecond: rate,
      messagesPerSet: ownPerSet,
      messagesPerSetAllIncluded: perSet,
      messagesPerSetByStream: perStream,
      kvWritesPerSet: kv / sets,
      cpuCoresBusy: cpu,
      aborted: obs.aborted.size,
    };
  } finally {
    stop = true;
    await feed.catch(() => undefined);
    await obs.stop();
    await sys.stop();
  }
};
