/**
 * rvss against a fake ONTAP cluster: a real nats-server (TLS, users), the four services as processes
 * with the ontap backend (RVSS_STORAGE=ontap), each its own NATS user, and readers of what the
 * cluster holds.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { AgentClient, RvssClient } from "@rvss/client";
import { parseSnapshotName } from "@rvss/core";
import {
  fillSampleShare,
  freePort,
  sampleOntapSvm,
  startOntapFiler,
  startRvss,
  startSecureNats,
  startService,
  testPki,
  type FakeLatency,
  type FakeSvmSpec,
  type NatsServer,
  type OntapFiler,
  type ServiceName,
  type ServiceProcess,
} from "@rvss/testkit";

export interface OntapSystem {
  dir: string;
  nats: NatsServer;
  filer: OntapFiler;
  env: Record<string, string>;
  services: Record<ServiceName, ServiceProcess>;
  client: RvssClient;
  agent(svm: string): AgentClient;
  /** The share's directory on the fake cluster. */
  shareDir(svm: string): string;
  /** What rvss made on an SVM's volume that is still there: copies, exposed shares, rvss snapshots. */
  leftovers(svm: string): Promise<{ copies: string[]; shares: string[]; snapshots: string[] }>;
  /** kill -9 and start again. */
  restart(name: ServiceName): Promise<void>;
  /** Stops a service (SIGTERM) until `start`. */
  halt(name: ServiceName): Promise<void>;
  start(name: ServiceName): Promise<void>;
  stop(): Promise<void>;
}

export async function startOntapSystem(
  svms: string[],
  opts: {
    env?: Record<string, string>;
    latency?: Partial<FakeLatency>;
    specs?: Record<string, Partial<FakeSvmSpec>>;
  } = {},
): Promise<OntapSystem> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-ontap-sys-"));
  const filer = await startOntapFiler(path.join(dir, "filer"), {
    svms: svms.map((s) => sampleOntapSvm(s, opts.specs?.[s])),
    ...(opts.latency ? { latency: opts.latency } : {}),
  });
  const shareDirs = new Map<string, string>();
  for (const s of svms) shareDirs.set(s, await fillSampleShare(filer.fake, s));
  const { nats, users } = await startSecureNats(dir);
  const grpc = `127.0.0.1:${await freePort()}`;
  const env = {
    NATS_URL: nats.url,
    RVSS_GRPC_ADDR: grpc,
    RVSS_FILER_CONFIG: filer.configPath,
    RVSS_STORAGE: "ontap",
    RVSS_ACK_WAIT_MS: "3000",
    RVSS_LOG_LEVEL: "warn",
    ...opts.env,
  };
  const { services } = await startRvss(env, { natsUsers: users });
  // A service started again logs in as itself too.
  const envOf = (name: ServiceName) => ({ ...env, ...users.env(name) });
  const client = new RvssClient({ address: grpc, auth: testPki().clientAuth() });
  await client.waitForReady();
  const agents: AgentClient[] = [];
  return {
    dir,
    nats,
    filer,
    env,
    services,
    client,
    agent(svm) {
      const a = new AgentClient(grpc, svm, testPki().clientAuth("backup-operator"));
      agents.push(a);
      return a;
    },
    shareDir: (svm) => shareDirs.get(svm)!,
    async leftovers(svm) {
      const vol = filer.fake.volumeDir(svm, "vm_vol1");
      const copies = await fsp.readdir(path.join(vol, ".rvss")).catch(() => [] as string[]);
      return {
        copies,
        shares: filer.fake.shareNames(svm).filter((n) => n.includes("@{")),
        snapshots: filer.fake.snapshotNames(svm, "vm_vol1").filter((n) => parseSnapshotName(n) !== null),
      };
    },
    async restart(name) {
      await services[name].kill();
      services[name] = await startService(name, envOf(name));
    },
    halt: (name) => services[name].stop(),
    async start(name) {
      services[name] = await startService(name, envOf(name));
    },
    async stop() {
      for (const a of agents) a.close();
      client.close();
      await Promise.all(Object.values(services).map((s) => s.stop()));
      await nats.dispose();
      await filer.stop();
      await fsp.rm(dir, { recursive: true, force: true });
      nats.assertNoViolations();
    },
  };
}

/** Polls `check` until it holds, or fails with `what` after `ms`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
