/**
 * What the benchmarks run on: a nats-server and the four services as processes on this machine
 * (storage "null" or "null" with ONTAP-like delays), plus a light observer of the event subjects.
 */
import type { StorageLatency } from "@rvss/runtime";
import { setEventsOfType, backupEventsOfType } from "@rvss/core";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { RvssClient } from "@rvss/client";
import {
  NatsServer,
  SERVICES,
  freePort,
  startService,
  testPki,
  type ServiceName,
  type ServiceProcess,
} from "@rvss/testkit";

export interface BenchSystem {
  nats: NatsServer;
  client: RvssClient;
  services: ServiceProcess[];
  /** Publishes seen so far on the streams that carry rvss's messages, by stream. */
  streamSequences(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

export const MESSAGE_STREAMS = [
  "RVSS_EVENTS",
  "RVSS_CMD_DISCOVERY",
  "RVSS_CMD_EXECUTOR",
  "RVSS_CMD_NOTIFIER",
  "RVSS_TIMERS",
];
export const KV_STREAM = "KV_rvss-state";

export async function startBenchSystem(
  env: Record<string, string>,
  opts: {
    replicas?: Partial<Record<ServiceName, number>>;
    perService?: Partial<Record<ServiceName, Record<string, string>>>;
  } = {},
): Promise<BenchSystem> {
  const nats = await NatsServer.start();
  const grpc = `127.0.0.1:${await freePort()}`;
  const base = { NATS_URL: nats.url, RVSS_GRPC_ADDR: grpc, RVSS_LOG_LEVEL: "warn", RVSS_STORAGE: "null", ...env };
  const services: ServiceProcess[] = [];
  for (const name of SERVICES) {
    for (let i = 0; i < (opts.replicas?.[name] ?? 1); i++) {
      const extra = name === "coordinator" && i > 0 ? { RVSS_GRPC_ADDR: `127.0.0.1:${await freePort()}` } : {};
      services.push(await startService(name, { ...base, ...opts.perService?.[name], ...extra }));
    }
  }
  const client = new RvssClient({ address: grpc, auth: testPki().clientAuth() });
  await client.waitForReady();
  const nc = await connect({ servers: nats.url, name: "bench" });
  const jsm = await jetstreamManager(nc);
  return {
    nats,
    client,
    services,
    async streamSequences() {
      const out: Record<string, number> = {};
      for (const s of [...MESSAGE_STREAMS, KV_STREAM]) out[s] = (await jsm.streams.info(s)).state.last_seq;
      return out;
    },
    async stop() {
      client.close();
      await nc.close();
      await Promise.all(services.map((s) => s.stop()));
      await nats.dispose();
    },
  };
}

/** Watches set and backup lifecycle events through plain subscriptions (cheap: filtered by subject). */
export class Observer {
  readonly started = new Map<string, number>();
  readonly completed = new Map<string, number>();
  readonly aborted = new Set<string>();
  readonly finishedBackups = new Map<string, number>();
  private readonly subs: Subscription[] = [];
  private waiters: (() => void)[] = [];

  private constructor(private readonly nc: NatsConnection) {}

  static async start(url: string): Promise<Observer> {
    const o = new Observer(await connect({ servers: url, name: "bench-observer" }));
    const on = (subject: string, fn: (parts: string[]) => void): void => {
      o.subs.push(
        o.nc.subscribe(subject, {
          callback: (_err, m) => {
            fn(m.subject.split("."));
            for (const w of o.waiters.splice(0)) w();
          },
        }),
      );
    };
    on(setEventsOfType("setStarted"), (p) => o.started.set(p[4]!, performance.now()));
    on(setEventsOfType("setCompleted"), (p) => o.completed.set(p[4]!, performance.now()));
    on(setEventsOfType("setAborted"), (p) => o.aborted.add(p[4]!));
    on(backupEventsOfType("backupFinished"), (p) => o.finishedBackups.set(p[3]!, performance.now()));
    await o.nc.flush();
    return o;
  }

  /** Resolves when `check` holds (checked after every observed event), or rejects after `timeoutMs`. */
  async until(check: () => boolean, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > end) throw new Error("the benchmark did not reach its goal in time (see the services' output)");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.nc.close();
  }
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The critical path of one set with the ONTAP-like delays: resolve, clone, expose, seal, snapshot, cleanup. */
export function criticalPathMs(l: StorageLatency): number {
  return l.resolve + l.clone + l.expose + l.seal + l.snapshot + l.cleanup;
}

export function fmt(n: number, digits = 1): string {
  return n.toFixed(digits).padStart(8);
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds per process (services and nats-server), for finding the bottleneck of a run. */
export function cpuByProcess(sys: BenchSystem): Record<string, number> {
  const out: Record<string, number> = { "nats-server": cpuSeconds(sys.nats.pid!) };
  for (const s of sys.services) out[s.name] = (out[s.name] ?? 0) + cpuSeconds(s.pid);
  return out;
}
