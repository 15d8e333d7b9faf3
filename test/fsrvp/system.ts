/**
 * A filer with many SVMs (each test of the FSRVP suite takes its own, so FSRVP server state never
 * leaks between tests) and the four services as processes, each connected to NATS (TLS, users) as
 * its own identity.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { ServiceError, status } from "@grpc/grpc-js";
import { HRESULT, describeHResult, isFsrvpError, type FsrvpError } from "@rvss/core";
import { AgentClient } from "@rvss/client";
import { LocalBackend } from "@rvss/storage";
import {
  EventRecorder,
  freePort,
  removeTree,
  sampleBytes,
  startRvss,
  startSecureNats,
  testPki,
  type NatsServer,
  type NatsUsers,
  type PkiIdentity,
  type RvssProcesses,
} from "@rvss/testkit";

/** Each share holds its own VM (a VM lives in one share): vm1 in share1, vm2 in share2, ... */
const VM_OF: Record<string, string> = { share1: "vm1", share2: "vm2", hidden$: "vm3", mounts: "vm4" };
export const vmFile = (share: string): string => `${VM_OF[share]}/Virtual Hard Disks/${VM_OF[share]}.vhdx`;
export const VM_FILE = vmFile("share1");

export interface FsrvpSystem {
  dir: string;
  nats: NatsServer;
  /** Its users: a service started again connects with `users.env(name)` beside `env`. */
  users: NatsUsers;
  rvss: RvssProcesses;
  port: number;
  backend: LocalBackend;
  /** An independent reader of the events stream. */
  events: EventRecorder;
  filerConfig: string;
  env: Record<string, string>;
  /** A client of an SVM, calling as the backup-operator or, to be another FSRVP client, as another identity. */
  client(svm: string, as?: PkiIdentity): Promise<AgentClient>;
  shareDir(svm: string, share: string): string;
  stop(): Promise<void>;
}

/** Each SVM: volume vm_vol1 at /hyperv/vm1 with shares share1, share2, hidden$, and "mounts" (a volume junction below it). */
export async function buildFiler(dir: string, svms: string[]): Promise<string> {
  const shares = [
    { name: "share1", path: "/hyperv/vm1/dir1/vmdir", rel: "dir1/vmdir" },
    { name: "share2", path: "/hyperv/vm1/dir2", rel: "dir2" },
    { name: "hidden$", path: "/hyperv/vm1/dir3", rel: "dir3" },
    { name: "mounts", path: "/hyperv/vm1/dir4", rel: "dir4" },
  ];
  for (const svm of svms) {
    for (const s of shares) {
      const file = path.join(dir, "filer", svm, "vm_vol1", s.rel, vmFile(s.name));
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(file, sampleBytes(`${svm}/${s.name}`, 256 * 1024));
    }
    await fsp.mkdir(path.join(dir, "filer", svm, "inner_vol"), { recursive: true });
  }
  const config = {
    root: "filer",
    svms: svms.map((name) => ({
      name,
      aliases: [`${name}.corp.example`],
      volumes: [
        { name: "vm_vol1", junctionPath: "/hyperv/vm1" },
        { name: "inner_vol", junctionPath: "/hyperv/vm1/dir4/inner" },
      ],
      shares: shares.map((s) => ({ name: s.name, path: s.path })),
    })),
  };
  const file = path.join(dir, "filer.json");
  await fsp.writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

export async function startFsrvpSystem(svms: string[], env: Record<string, string> = {}): Promise<FsrvpSystem> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-fsrvp-"));
  const filerConfig = await buildFiler(dir, svms);
  const { nats, users } = await startSecureNats(dir);
  const port = await freePort();
  const full = {
    NATS_URL: nats.url,
    RVSS_FILER_CONFIG: filerConfig,
    RVSS_GRPC_ADDR: `127.0.0.1:${port}`,
    RVSS_ACK_WAIT_MS: "5000",
    ...env,
  };
  const rvss = await startRvss(full, { natsUsers: users });
  const events = await EventRecorder.start(nats.url, users);
  const clients: AgentClient[] = [];
  return {
    dir,
    nats,
    users,
    rvss,
    port,
    filerConfig,
    events,
    env: full,
    backend: LocalBackend.fromFile(filerConfig),
    async client(svm, as = "backup-operator") {
      const c = new AgentClient(`127.0.0.1:${port}`, svm, testPki().clientAuth(as));
      clients.push(c);
      return c;
    },
    shareDir(svm, share) {
      const rel = { share1: "dir1/vmdir", share2: "dir2", hidden$: "dir3", mounts: "dir4" }[share]!;
      return path.join(dir, "filer", svm, "vm_vol1", rel);
    },
    async stop() {
      for (const c of clients) c.close();
      await events.stop();
      await rvss.stop();
      await nats.dispose();
      await removeTree(dir);
      nats.assertNoViolations();
    },
  };
}

/** Expects the call to fail with exactly this HRESULT; returns the error. */
export async function expectHResult(p: Promise<unknown>, hresult: number): Promise<FsrvpError> {
  try {
    await p;
  } catch (err) {
    if (isFsrvpError(err)) {
      expect(describeHResult(err.hresult)).toBe(describeHResult(hresult));
      return err;
    }
    throw err;
  }
  throw new Error(`expected ${describeHResult(hresult)}, but the call succeeded`);
}

/** The gRPC status code an error travelled as (the client keeps the gRPC error as its cause). */
export const grpcCodeOf = (err: Error): status | undefined => (err.cause as ServiceError | undefined)?.code;

export const unc = (svm: string, share: string, trailing = false) => `\\\\${svm}\\${share}${trailing ? "\\" : ""}`;

export const CLIENT_SET_ID = "c1c1c1c1-0000-4000-8000-000000000001";
export { HRESULT };

/** Drives a client's SVM to a state; returns the IDs. */
export async function driveTo(
  c: AgentClient,
  state: "Started" | "Added" | "Committed" | "Exposed" | "Recovered",
  context = 0x400000,
) {
  await c.setContext(context);
  const { shadowCopySetId } = await c.startShadowCopySet(CLIENT_SET_ID);
  if (state === "Started") return { setId: shadowCopySetId, copyId: "" };
  const { shadowCopyId } = await c.addToShadowCopySet(shadowCopySetId, unc(c.svm, "share1"));
  const ids = { setId: shadowCopySetId, copyId: shadowCopyId };
  if (state === "Added") return ids;
  await c.prepareShadowCopySet(shadowCopySetId);
  await c.commitShadowCopySet(shadowCopySetId);
  if (state === "Committed") return ids;
  await c.exposeShadowCopySet(shadowCopySetId);
  if (state === "Exposed") return ids;
  await c.recoveryCompleteShadowCopySet(shadowCopySetId);
  return ids;
}
