/**
 * The fault suite's system: a filer of many SVMs (each cell of the suite takes its own, so no state
 * leaks between cells), the four services as processes that can be killed (-9), paused (SIGSTOP)
 * and restarted, each logged in to NATS as its own user, an independent event recorder, and
 * readers of the durable state (as the TESTER, which may also inject what no service may send).
 *
 * Each SVM has two volumes, so a set takes two snapshots: vol_a (share_a, VM vm1) and vol_b
 * (share_b, VM vm2).
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import {
  assembleBackup,
  svmKey,
  type BackupPlan,
  type BackupRecord,
  type BackupStatus,
  type SetResult,
  type SvmRecord,
  STATE_BUCKET,
  backupKey,
  backupStatusKey,
  backupSetKeys,
} from "@rvss/core";
import { bucketKeys } from "@rvss/bus";
import { RvssClient } from "@rvss/client";
import { LocalBackend } from "@rvss/storage";
import {
  EventRecorder,
  TESTER,
  freePort,
  removeTree,
  sampleBytes,
  startRvss,
  startService,
  testPki,
  type NatsUsers,
  type ServiceName,
  type ServiceProcess,
} from "@rvss/testkit";

export const VOLUMES = ["vol_a", "vol_b"] as const;
export const SHARES = [
  { share: "share_a", volume: "vol_a", file: "vm1/Virtual Hard Disks/vm1.vhdx" },
  { share: "share_b", volume: "vol_b", file: "vm2/Virtual Hard Disks/vm2.vhdx" },
] as const;

/** Short waits everywhere, so a crashed consumer's work comes back within seconds. */
export const FAULT_ENV: Record<string, string> = {
  RVSS_ACK_WAIT_MS: "1500",
  RVSS_MAX_DELIVER: "5",
  RVSS_RECONCILE_INTERVAL_MS: "1000",
  RVSS_LOG_LEVEL: "info",
  RVSS_WRITER_CHECKPOINT_TIMEOUT_MS: "3000",
  RVSS_WRITER_FREEZE_WINDOW_MS: "5000",
  RVSS_WRITER_THAW_TIMEOUT_MS: "3000",
  RVSS_WRITER_AUTO_RECOVER_TIMEOUT_MS: "3000",
  RVSS_WRITER_FINISH_TIMEOUT_MS: "3000",
};

export interface FaultSystem {
  dir: string;
  natsUrl: string;
  /** The server's users: a process started beside the services logs in with `users.env(name)`. */
  users: NatsUsers;
  env: Record<string, string>;
  backend: LocalBackend;
  client: RvssClient;
  events: EventRecorder;
  services: Record<ServiceName, ServiceProcess>;
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** kill -9, then start it again; resolves once the new process is ready. */
  restart(name: ServiceName): Promise<void>;
  svm(name: string): Promise<SvmRecord | null>;
  backup(id: string): Promise<BackupRecord | null>;
  /** The ID of the backup's first set once it started (from the SVM's record, or the set's result). */
  setOf(backupId: string, svm: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** A filer description with `svms`, each file `fileBytes` long (bigger files make storage steps take longer). */
export async function buildFaultFiler(
  dir: string,
  svms: string[],
  fileBytes: (svm: string) => number = () => 64 * 1024,
): Promise<string> {
  for (const svm of svms) {
    for (const s of SHARES) {
      const file = path.join(dir, "filer", svm, s.volume, "vms", s.file);
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(file, sampleBytes(`${svm}/${s.share}`, fileBytes(svm)));
    }
    // The directories the backend works in exist from the start, so a test can watch them.
    for (const d of storageDirs(dir, svm)) await fsp.mkdir(d, { recursive: true });
  }
  const config = {
    root: "filer",
    svms: svms.map((name) => ({
      name,
      volumes: VOLUMES.map((v) => ({ name: v, junctionPath: `/${v}` })),
      shares: SHARES.map((s) => ({ name: s.share, path: `/${s.volume}/vms` })),
    })),
  };
  const file = path.join(dir, "filer.json");
  await fsp.writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** Where the local backend makes an SVM's clones, snapshots and exposed shares. */
export function storageDirs(dir: string, svm: string): string[] {
  return [
    ...VOLUMES.flatMap((v) => [
      path.join(dir, "filer", svm, v, ".shadowcopy"),
      path.join(dir, "filer", svm, v, ".snapshot"),
    ]),
    path.join(dir, "filer", svm, ".shares"),
  ];
}

export async function startFaultSystem(o: {
  natsUrl: string;
  /** The server's users (startSecureNats, NatsCluster's): the provisioner makes the streams first. */
  users: NatsUsers;
  svms: string[];
  fileBytes?: (svm: string) => number;
  env?: Record<string, string>;
}): Promise<FaultSystem> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-faults-"));
  const filerConfig = await buildFaultFiler(dir, o.svms, o.fileBytes);
  const env = {
    ...FAULT_ENV,
    NATS_URL: o.natsUrl,
    RVSS_FILER_CONFIG: filerConfig,
    RVSS_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
    ...o.env,
  };
  const { services } = await startRvss(env, { natsUsers: o.users });
  const nc = await connect({
    servers: o.natsUrl.split(","),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...o.users.connectOptions(TESTER),
  });
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  const kv: KV = await new Kvm(nc).open(STATE_BUCKET);
  const read = async <T>(key: string): Promise<T | null> => {
    const e = await kv.get(key);
    return e && e.operation === "PUT" ? (e.json() as T) : null;
  };
  const client = new RvssClient({ address: env.RVSS_GRPC_ADDR, auth: testPki().clientAuth() });
  const events = await EventRecorder.start(o.natsUrl, o.users);
  const sys: FaultSystem = {
    dir,
    natsUrl: o.natsUrl,
    users: o.users,
    env,
    backend: LocalBackend.fromFile(filerConfig),
    client,
    events,
    services,
    nc,
    jsm,
    async restart(name) {
      await services[name].kill();
      services[name] = await startService(name, { ...env, ...o.users.env(name) });
    },
    svm: (name) => read<SvmRecord>(svmKey(name)),
    async backup(id) {
      const [plan, status] = await Promise.all([
        read<BackupPlan>(backupKey(id)),
        read<BackupStatus>(backupStatusKey(id)),
      ]);
      if (!plan || !status) return null;
      const results = new Map<number, SetResult>();
      for (const k of await bucketKeys(jsm, STATE_BUCKET, backupSetKeys(id))) {
        const r = await read<SetResult>(k);
        if (r) results.set(r.index, r);
      }
      return assembleBackup(plan, status, results);
    },
    async setOf(backupId, svm) {
      const rec = await sys.svm(svm);
      const live =
        rec?.sets.find((s) => s.backup?.backupId === backupId)?.id ??
        rec?.removals.find((d) => d.backup?.backupId === backupId)?.setId;
      return live ?? (await sys.backup(backupId))?.sets[0]?.setId;
    },
    async stop() {
      client.close();
      await events.stop();
      for (const s of Object.values(services)) s.resume();
      await Promise.all(Object.values(services).map((s) => s.stop()));
      await nc.close();
      await removeTree(dir);
    },
  };
  return sys;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (not undefined), or fails naming `what`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 20,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The dataset of one SVM: both shares with their VM file. */
export function datasetOf(svm: string) {
  return SHARES.map((s) => ({ svm, share: s.share, files: [s.file] }));
}

export const median = (xs: number[]) =>
  xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
