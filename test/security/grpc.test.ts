/**
 * gRPC security against a real coordinator (with share-discovery) over real TLS, with certificates
 * the test PKI made for this run: who is refused, who is allowed, and that a refused or oversized
 * request leaves no record behind.
 */
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import * as protoLoader from "@grpc/proto-loader";
import { protoPath } from "grpc-health-check";
import { AUDIT_STREAM, ErrorCodes, HRESULT, isFsrvpError, isRvssError, svmKey, type RvssError } from "@rvss/core";
import { AgentClient, RvssClient, channelCredentials, channelOptions, type ClientAuth } from "@rvss/client";
import { BackupServiceClient, ListBackupsRequest, type ListBackupsResponse } from "@rvss/proto";
import type { RunningService } from "@rvss/runtime";
import { startShareDiscovery } from "@rvss/share-discovery";
import { startCoordinator, type Coordinator } from "@rvss/coordinator";
import {
  TESTER,
  createSampleFiler,
  removeTree,
  startServicesNats,
  testConfig,
  testPki,
  type NatsServer,
  type NatsUsers,
  type SampleFiler,
} from "@rvss/testkit";
import { connectBus, type Bus } from "@rvss/bus";

const log = pino({ level: "silent" });
let dir: string;
let nats: NatsServer;
let users: NatsUsers;
let filer: SampleFiler;
let coordinator: Coordinator;
let services: RunningService[] = [];
let bus: Bus;
let addr: string;
const clients: { close(): void }[] = [];

type Untyped = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const LIMITS = { shares: 3, files: 5, creates: 1 };

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sec-"));
  filer = await createSampleFiler(dir);
  const secure = await startServicesNats(
    filer.configPath,
    {
      RVSS_GRPC_TOKEN_ADDR: "127.0.0.1:0",
      RVSS_HEALTH_GRPC_ADDR: "127.0.0.1:0",
      RVSS_MAX_SHARES_PER_REQUEST: String(LIMITS.shares),
      RVSS_MAX_FILES_PER_REQUEST: String(LIMITS.files),
      RVSS_MAX_CONCURRENT_CREATES: String(LIMITS.creates),
    },
    dir,
  );
  nats = secure.nats;
  users = secure.users;
  coordinator = await startCoordinator(secure.config("coordinator"), log);
  services = [coordinator, await startShareDiscovery(secure.config("share-discovery"), log)];
  bus = await connectBus(secure.config(TESTER), "test", log);
  addr = `127.0.0.1:${coordinator.grpcPort}`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await bus.close();
  for (const s of services) await s.stop();
  await nats.dispose();
  await removeTree(dir);
});

function backups(auth: ClientAuth, address = addr): RvssClient {
  const c = new RvssClient({ address, auth });
  clients.push(c);
  return c;
}

function agent(auth: ClientAuth, svm = "vs1"): AgentClient {
  const c = new AgentClient(addr, svm, auth);
  clients.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<RvssError> {
  try {
    await p;
  } catch (err) {
    if (isRvssError(err)) return err;
    throw err;
  }
  throw new Error("the call was not refused");
}

const grpcCode = (e: RvssError): grpc.status | undefined => (e.cause as grpc.ServiceError | undefined)?.code;

/** Every key in rvss-state: what a refused request must not add to. */
async function stateKeys(): Promise<string[]> {
  return (await bus.state.keys(">")).sort();
}

describe("transport: only clients with a certificate from the CA get through", () => {
  const pki = testPki();
  test.each<[string, () => ClientAuth]>([
    ["plaintext", () => ({ insecure: true })],
    ["TLS without a client certificate", () => ({ ca: pki.ca, token: "x" })],
    ["a certificate from a rogue CA claiming to be the admin", () => ({ ca: pki.ca, ...pki.intruder })],
  ])("%s is refused before any method runs", async (_name, auth) => {
    const e = await refusal(backups(auth()).listBackups());
    expect(e.code).toBe(ErrorCodes.UNAVAILABLE);
  });
});

describe("roles", () => {
  const pki = testPki();
  test("a viewer can list but not CreateBackup; the refusal names the method and the role", async () => {
    const viewer = backups(pki.clientAuth("viewer"));
    await expect(viewer.listBackups()).resolves.toEqual(expect.any(Array));
    const before = await stateKeys();
    const e = await refusal(viewer.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: [] }] }));
    expect(e.code).toBe(ErrorCodes.PERMISSION_DENIED);
    expect(grpcCode(e)).toBe(grpc.status.PERMISSION_DENIED);
    expect(e.message).toBe(
      "/rvss.v1.BackupService/CreateBackup needs role backup-operator; spiffe://rvss.local/viewer holds viewer",
    );
    expect(await stateKeys()).toEqual(before);
  });

  test("a certificate from the CA whose principal has no role is refused everything but health", async () => {
    const e = await refusal(backups(pki.clientAuth("nobody")).listBackups());
    expect(e.code).toBe(ErrorCodes.PERMISSION_DENIED);
    expect(e.message).toMatch(/ListBackups needs role viewer; spiffe:\/\/rvss\.local\/nobody holds no role/);
  });

  test("a backup-operator cannot restore; a restore-operator cannot create", async () => {
    const e1 = await refusal(
      backups(pki.clientAuth("backup-operator")).restore({
        backupId: "x",
        target: { kind: { $case: "directory", value: path.join(dir, "r") } },
      }),
    );
    expect(e1.message).toMatch(/Restore needs role restore-operator/);
    const e2 = await refusal(
      backups(pki.clientAuth("restore-operator")).createBackup({
        dataset: [{ svm: "vs1", share: "share1", files: [] }],
      }),
    );
    expect(e2.message).toMatch(/CreateBackup needs role backup-operator/);
  });

  test("a principal header sent by the client is ignored", async () => {
    const raw = new BackupServiceClient(addr, channelCredentials(pki.clientAuth("nobody")), channelOptions(addr));
    clients.push(raw);
    const md = new grpc.Metadata();
    md.set("x-rvss-principal", "spiffe://rvss.local/admin");
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.listBackups(ListBackupsRequest.fromPartial({}), md, (e: grpc.ServiceError | null, _r: ListBackupsResponse) =>
        resolve(e),
      ),
    );
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/spiffe:\/\/rvss\.local\/nobody holds no role/);
  });
});

describe("the FSRVP agent API", () => {
  const pki = testPki();
  test("a call without the role answers E_ACCESSDENIED and holds nothing", async () => {
    const before = await stateKeys();
    const e = await refusal(agent(pki.clientAuth("viewer")).setContext(0));
    expect(isFsrvpError(e, HRESULT.E_ACCESSDENIED)).toBe(true);
    expect(grpcCode(e)).toBe(grpc.status.PERMISSION_DENIED);
    expect(e.message).toMatch(/SetContext needs role backup-operator/);
    expect(await stateKeys()).toEqual(before);
  });

  test("checklist row 2: without Backup Operators' rights even GetSupportedVersion is E_ACCESSDENIED", async () => {
    const e = await refusal(agent(pki.clientAuth("viewer")).getSupportedVersion());
    expect(isFsrvpError(e, HRESULT.E_ACCESSDENIED)).toBe(true);
    await expect(agent(pki.clientAuth("backup-operator")).getSupportedVersion()).resolves.toBeDefined();
  });

  test("the FSRVP client is the authenticated principal: another identity cannot take a held context", async () => {
    await agent(pki.clientAuth("backup-operator")).setContext(0);
    const record = (await bus.state.get<{ clientAddress: string }>(svmKey("vs1")))!.value;
    expect(record.clientAddress).toBe("spiffe://rvss.local/backup-operator");
    const e = await refusal(agent(pki.clientAuth("admin")).setContext(0));
    expect(isFsrvpError(e, HRESULT.FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS)).toBe(true);
  });
});

describe("the token listener", () => {
  const pki = testPki();
  const tokenAddr = (): string => `127.0.0.1:${coordinator.grpcTokenPort}`;
  test("a known bearer token is its principal, with that principal's roles", async () => {
    const dash = backups({ ca: pki.ca, token: pki.viewerToken }, tokenAddr());
    await expect(dash.listBackups()).resolves.toEqual(expect.any(Array));
    const e = await refusal(dash.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: [] }] }));
    expect(e.message).toMatch(/CreateBackup needs role backup-operator; token:dashboard holds viewer/);
  });

  test.each([["a wrong token", "not-the-token"]])("%s is UNAUTHENTICATED", async (_n, token) => {
    const e = await refusal(backups({ ca: pki.ca, token }, tokenAddr()).listBackups());
    expect(e.code).toBe(ErrorCodes.UNAUTHENTICATED);
    expect(grpcCode(e)).toBe(grpc.status.UNAUTHENTICATED);
    expect(e.message).toBe("/rvss.v1.BackupService/ListBackups needs an authenticated caller");
  });

  test("no token at all is UNAUTHENTICATED", async () => {
    const raw = new BackupServiceClient(
      tokenAddr(),
      grpc.credentials.createSsl(await fsp.readFile(pki.ca)),
      channelOptions(tokenAddr()),
    );
    clients.push(raw);
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      raw.listBackups(ListBackupsRequest.fromPartial({}), (e: grpc.ServiceError | null) => resolve(e)),
    );
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
  });
});

describe("health and reflection", () => {
  test("the plaintext health port answers health, and nothing else", async () => {
    const health = `127.0.0.1:${coordinator.grpcHealthPort}`;
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { enums: String })) as Untyped;
    const h = new pkg.grpc.health.v1.Health(health, grpc.credentials.createInsecure());
    clients.push(h);
    const res = await new Promise<Untyped>((resolve, reject) =>
      h.Check({ service: "" }, (e: Error | null, r: Untyped) => (e ? reject(e) : resolve(r))),
    );
    expect(res.status).toBe("SERVING");
    const e = await refusal(backups({ insecure: true }, health).listBackups());
    expect(grpcCode(e)).toBe(grpc.status.UNIMPLEMENTED);
  });
});

describe("limits: refused before any record is written", () => {
  const pki = testPki();
  test("more shares or files than allowed are RESOURCE_EXHAUSTED naming the limit", async () => {
    const op = backups(pki.clientAuth("backup-operator"));
    const before = await stateKeys();
    const shares = Array.from({ length: LIMITS.shares + 1 }, (_, i) => ({ svm: "vs1", share: `s${i}`, files: [] }));
    const e1 = await refusal(op.createBackup({ dataset: shares }));
    expect(e1.code).toBe(ErrorCodes.RESOURCE_EXHAUSTED);
    expect(e1.message).toMatch(/4 shares, more than the limit of 3 \(RVSS_MAX_SHARES_PER_REQUEST\)/);
    const files = Array.from({ length: LIMITS.files + 1 }, (_, i) => `vm/f${i}`);
    const e2 = await refusal(op.createBackup({ dataset: [{ svm: "vs1", share: "share1", files }] }));
    expect(e2.message).toMatch(/RVSS_MAX_FILES_PER_REQUEST/);
    expect(await stateKeys()).toEqual(before);
  });

  test("a request over the message size limit is RESOURCE_EXHAUSTED and leaves nothing", async () => {
    const before = await stateKeys();
    const e = await refusal(
      backups(pki.clientAuth("backup-operator")).createBackup({
        dataset: [{ svm: "vs1", share: "share1", files: [] }],
        description: "x".repeat(2 * 1024 * 1024),
      }),
    );
    expect(grpcCode(e)).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await stateKeys()).toEqual(before);
  });

  test("CreateBackup calls beyond the concurrency limit are refused, the others each make one backup", async () => {
    const op = backups(pki.clientAuth("backup-operator"));
    const before = (await op.listBackups()).length;
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => op.createBackup({ dataset: [{ svm: "vs1", share: "share1", files: [] }] })),
    );
    const refused = results.filter((r) => r.status === "rejected");
    for (const r of refused)
      expect((r as PromiseRejectedResult).reason).toMatchObject({
        code: ErrorCodes.RESOURCE_EXHAUSTED,
        message: expect.stringMatching(/RVSS_MAX_CONCURRENT_CREATES=1/),
      });
    expect(refused.length).toBeGreaterThan(0);
    expect((await op.listBackups()).length - before).toBe(results.length - refused.length);
  });
});

describe("names that can never be valid leave no record", () => {
  const pki = testPki();
  test.each(["../../etc", "vs1/../x", "a b"])(
    "SVM %j: the agent answers E_INVALIDARG, a backup INVALID_ARGUMENT",
    async (svm) => {
      const before = await stateKeys();
      const e1 = await refusal(agent(pki.clientAuth("backup-operator"), svm).setContext(0));
      expect(isFsrvpError(e1, HRESULT.E_INVALIDARG)).toBe(true);
      const e2 = await refusal(
        backups(pki.clientAuth("backup-operator")).createBackup({ dataset: [{ svm, share: "share1", files: [] }] }),
      );
      expect(e2.code).toBe(ErrorCodes.INVALID_ARGUMENT);
      expect(e2.message).toMatch(/is not an SVM name/);
      expect(await stateKeys()).toEqual(before);
    },
  );

  test("a 5000-character file name is INVALID_ARGUMENT, without the filer's path, and leaves no record", async () => {
    const before = await stateKeys();
    const e = await refusal(
      backups(pki.clientAuth("backup-operator")).createBackup({
        dataset: [{ svm: "vs1", share: "share1", files: [`vm1/${"n".repeat(5000)}`] }],
      }),
    );
    expect(e.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(e.message).toMatch(/name of 5000 bytes/);
    expect(e.message).not.toContain(filer.root);
    expect(await stateKeys()).toEqual(before);
  });
});

describe("RVSS_AUTH=off", () => {
  test("serves plaintext, says so at start, and is never the default", async () => {
    expect(testConfig(nats.url, filer.configPath, {}).grpc.auth).toBe("required");
    const lines: { level: number; msg: string }[] = [];
    const capture = pino({ level: "warn" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const open = await startCoordinator(
      testConfig(nats.url, filer.configPath, {
        ...users.env("coordinator"),
        RVSS_AUTH: "off",
        RVSS_GRPC_TLS_CERT: "",
      }),
      capture,
    );
    try {
      await expect(backups({ insecure: true }, `127.0.0.1:${open.grpcPort}`).listBackups()).resolves.toEqual(
        expect.any(Array),
      );
      expect(lines.map((l) => l.msg)).toContain(
        "RVSS_AUTH=off: gRPC is plaintext and every caller is an admin; never run this way on a network",
      );
    } finally {
      await open.stop();
    }
  });
});

describe("rotation", () => {
  test("a new client CA written over the file is used without a restart", async () => {
    const pki = testPki();
    const caFile = path.join(dir, "client-ca.pem");
    await fsp.copyFile(pki.ca, caFile);
    const rotating = await startCoordinator(
      testConfig(nats.url, filer.configPath, {
        ...users.env("coordinator"),
        RVSS_GRPC_CLIENT_CA: caFile,
        RVSS_GRPC_TLS_REFRESH_MS: "200",
      }),
      log,
    );
    try {
      const at = `127.0.0.1:${rotating.grpcPort}`;
      await expect(backups(pki.clientAuth("viewer"), at).listBackups()).resolves.toEqual(expect.any(Array));
      // The other CA of the PKI becomes the only one clients may chain to.
      await fsp.copyFile(path.join(pki.dir, "rogue-ca.pem"), caFile);
      await new Promise((r) => setTimeout(r, 1000));
      const e = await refusal(backups(pki.clientAuth("viewer"), at).listBackups());
      expect(e.code).toBe(ErrorCodes.UNAVAILABLE);
      await expect(backups({ ca: pki.ca, ...pki.intruder }, at).listBackups()).resolves.toEqual(expect.any(Array));
    } finally {
      await rotating.stop();
    }
  });
});

describe("audit", () => {
  test("a refused and an allowed mutating call each leave a record in RVSS_AUDIT, which cannot be purged or edited", async () => {
    const pki = testPki();
    await refusal(backups(pki.clientAuth("viewer")).cancelBackup("nope"));
    await refusal(backups(pki.clientAuth("backup-operator")).cancelBackup("nope"));
    const records: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && records.length < 2; i++) {
      records.length = 0;
      const info = await bus.jsm.streams.info(AUDIT_STREAM);
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await bus.jsm.streams.getMessage(AUDIT_STREAM, { seq });
        const r = JSON.parse(new TextDecoder().decode(m!.data)) as Record<string, unknown>;
        if (r.method === "/rvss.v1.BackupService/CancelBackup") records.push(r);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(records).toEqual([
      expect.objectContaining({
        principal: "spiffe://rvss.local/viewer",
        roles: ["viewer"],
        authn: "mtls",
        decision: "denied",
        reason: "missing-role",
      }),
      expect.objectContaining({ principal: "spiffe://rvss.local/backup-operator", decision: "allowed" }),
    ]);
    await expect(bus.jsm.streams.purge(AUDIT_STREAM)).rejects.toThrow(/purge/i);
    // deny_delete: no single record can be taken out either (deleting the stream is refused by the
    // NATS permissions of every identity but the provisioner's: test/security/nats.test.ts).
    const last = (await bus.jsm.streams.info(AUDIT_STREAM)).state.last_seq;
    await expect(bus.jsm.streams.deleteMessage(AUDIT_STREAM, last)).rejects.toThrow(/delete/i);
  });
});
