/**
 * The FSRVP agent API answers for a set only to the client that made it: another authenticated
 * backup operator gets E_ACCESSDENIED for every call naming the set, and cannot start a set under a
 * context it does not hold; an admin may act on any set. A real coordinator, share-discovery and
 * snapshot-executor, real TLS, and a second operator's certificate made for the test.
 */
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import pino from "pino";
import { HRESULT, describeHResult, isFsrvpError, svmKey, type SvmRecord } from "@rvss/core";
import * as grpc from "@grpc/grpc-js";
import { AgentClient, channelCredentials, channelOptions, type ClientAuth } from "@rvss/client";
import { DeleteShareMappingRequest, ShadowCopyAgentClient } from "@rvss/proto";
import { connectBus, type Bus } from "@rvss/bus";
import type { RunningService } from "@rvss/runtime";
import { startCoordinator } from "@rvss/coordinator";
import { startShareDiscovery } from "@rvss/share-discovery";
import { startSnapshotExecutor } from "@rvss/snapshot-executor";
import {
  TESTER,
  copiesLeft,
  createSampleFiler,
  ensurePki,
  issueCertificate,
  principalOfIdentity,
  removeTree,
  startServicesNats,
  type NatsServer,
  type Pki,
  type SampleFiler,
} from "@rvss/testkit";

const log = pino({ level: "silent" });
let dir: string;
let nats: NatsServer;
let filer: SampleFiler;
let pki: Pki;
let services: RunningService[] = [];
let bus: Bus;
let addr: string;
let other: ClientAuth;
const clients: AgentClient[] = [];

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-sec-owner-"));
  filer = await createSampleFiler(dir);
  pki = ensurePki(path.join(dir, "pki"));
  // A second backup operator, known to the policy with the same role as the first.
  const name = "operator-2";
  const pair = issueCertificate(pki.dir, "ca", name, name, `URI:${principalOfIdentity(name)}`, "clientAuth");
  const policy = JSON.parse(fs.readFileSync(pki.policy, "utf8")) as { principals: Record<string, string[]> };
  policy.principals[principalOfIdentity(name)] = ["backup-operator"];
  fs.writeFileSync(pki.policy, JSON.stringify(policy));
  other = { ca: pki.ca, ...pair };
  const secure = await startServicesNats(filer.configPath, pki.serverEnv(), dir);
  nats = secure.nats;
  const coordinator = await startCoordinator(secure.config("coordinator"), log);
  services = [
    coordinator,
    await startShareDiscovery(secure.config("share-discovery"), log),
    await startSnapshotExecutor(secure.config("snapshot-executor"), log.child({ service: "snapshot-executor" })),
  ];
  bus = await connectBus(secure.config(TESTER), "test", log);
  addr = `127.0.0.1:${coordinator.grpcPort}`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await bus?.close();
  for (const s of services.reverse()) await s.stop();
  await nats?.dispose();
  await removeTree(dir);
});

function agent(auth: ClientAuth): AgentClient {
  const c = new AgentClient(addr, filer.svm, auth);
  clients.push(c);
  return c;
}

async function hresultOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return describeHResult(HRESULT.ZERO);
  } catch (err) {
    if (isFsrvpError(err)) return describeHResult(err.hresult);
    throw err;
  }
}

const record = async (): Promise<SvmRecord> => (await bus.state.get<SvmRecord>(svmKey(filer.svm)))!.value;

test("another backup operator gets E_ACCESSDENIED for every call naming the set; the owner and an admin do not", async () => {
  const owner = agent(pki.clientAuth("backup-operator"));
  const intruder = agent(other);
  const unc = `\\\\${filer.svm}\\${filer.share}`;
  await owner.setContext(0x00400000);
  const { shadowCopySetId: setId } = await owner.startShadowCopySet(randomUUID());
  const { shadowCopyId } = await owner.addToShadowCopySet(setId, unc);
  await owner.prepareShadowCopySet(setId);
  await owner.commitShadowCopySet(setId);
  await owner.exposeShadowCopySet(setId);
  const before = await record();

  const denied = describeHResult(HRESULT.E_ACCESSDENIED);
  const calls: [string, () => Promise<unknown>][] = [
    ["StartShadowCopySet", () => intruder.startShadowCopySet(randomUUID())],
    ["AddToShadowCopySet", () => intruder.addToShadowCopySet(setId, unc)],
    ["PrepareShadowCopySet", () => intruder.prepareShadowCopySet(setId)],
    ["CommitShadowCopySet", () => intruder.commitShadowCopySet(setId)],
    ["ExposeShadowCopySet", () => intruder.exposeShadowCopySet(setId)],
    ["RecoveryCompleteShadowCopySet", () => intruder.recoveryCompleteShadowCopySet(setId)],
    ["GetShareMapping", () => intruder.getShareMapping(shadowCopyId, setId, unc)],
    ["DeleteShareMapping", () => intruder.deleteShareMapping(setId, shadowCopyId, unc)],
    ["AbortShadowCopySet", () => intruder.abortShadowCopySet(setId)],
  ];
  const answers: [string, string][] = [];
  for (const [name, call] of calls) answers.push([name, await hresultOf(call())]);
  expect(answers).toEqual(calls.map(([name]) => [name, denied]));
  const e = await intruder.deleteShareMapping(setId, shadowCopyId, unc).then(
    () => null,
    (err: unknown) => err as Error,
  );
  expect(e?.message).toMatch(`shadow copy set ${setId} is another FSRVP client's; only it (or an admin) may act on it`);
  // Roles sent by the client are not believed: the interceptor sets them from the policy.
  const raw = new ShadowCopyAgentClient(addr, channelCredentials(other), channelOptions(addr));
  const md = new grpc.Metadata();
  md.set("x-rvss-roles", "admin");
  md.set("x-rvss-principal", principalOfIdentity("backup-operator"));
  const spoofed = await new Promise<grpc.ServiceError | null>((resolve) =>
    raw.deleteShareMapping(
      DeleteShareMappingRequest.fromPartial({ svm: filer.svm, shadowCopySetId: setId, shadowCopyId, shareName: unc }),
      md,
      (err: grpc.ServiceError | null) => resolve(err),
    ),
  );
  raw.close();
  expect(spoofed?.details).toMatch(/^E_ACCESSDENIED/);
  // Nothing changed: the set is Exposed with its mapping, its copy and exposed share still there.
  const after = await record();
  expect(after.sets).toEqual(before.sets);
  expect(after.removals).toEqual([]);
  await expect(
    fsp.stat(path.join(filer.root, filer.svm, filer.volume, ".shadowcopy", shadowCopyId)),
  ).resolves.toBeDefined();

  // The admin may look; the owner carries on and removes its own copy.
  const admin = agent(pki.clientAuth("admin"));
  expect((await admin.getShareMapping(shadowCopyId, setId, unc)).shareMapping?.shadowCopyId).toBe(shadowCopyId);
  expect((await owner.getShareMapping(shadowCopyId, setId, unc)).shareMapping?.shadowCopyId).toBe(shadowCopyId);
  await owner.recoveryCompleteShadowCopySet(setId);
  await owner.deleteShareMapping(setId, shadowCopyId, unc);
  expect((await record()).sets).toEqual([]);
});

test("an admin may remove another client's exposed copy", async () => {
  const owner = agent(other);
  const unc = `\\\\${filer.svm}\\${filer.share}`;
  await owner.setContext(0x00400000);
  const { shadowCopySetId: setId } = await owner.startShadowCopySet(randomUUID());
  const { shadowCopyId } = await owner.addToShadowCopySet(setId, unc);
  await owner.commitShadowCopySet(setId);
  await owner.exposeShadowCopySet(setId);
  await agent(pki.clientAuth("admin")).deleteShareMapping(setId, shadowCopyId, unc);
  expect((await record()).sets).toEqual([]);
  expect(await copiesLeft(path.join(filer.root, filer.svm, filer.volume, ".shadowcopy"))).toEqual([]);
});
