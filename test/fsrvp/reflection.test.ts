/**
 * Generic tools need no rvss code: this test lists the services through server reflection, builds
 * a client from the descriptors reflection returns, calls the ShadowCopyAgent with it, and asks the
 * standard health service. Like every caller, they present a client certificate: a viewer's, and a
 * backup operator's for the FSRVP call.
 */
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { channelCredentials, channelOptions } from "@rvss/client";
import { testPki } from "@rvss/testkit";
import { startFsrvpSystem, unc, type FsrvpSystem } from "./system";

const viewer = (): grpc.ChannelCredentials => channelCredentials(testPki().clientAuth("viewer"));
const operator = (): grpc.ChannelCredentials => channelCredentials(testPki().clientAuth("backup-operator"));

let sys: FsrvpSystem;
beforeAll(async () => {
  sys = await startFsrvpSystem(["r1"]);
});
afterAll(async () => {
  await sys.stop();
});

type Untyped = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function load(file: string): Untyped {
  return grpc.loadPackageDefinition(
    protoLoader.loadSync(file, { keepCase: true, longs: String, enums: String, defaults: true }),
  ) as Untyped;
}

/** One request/response exchange on the reflection stream. */
function reflect(client: Untyped, request: Untyped): Promise<Untyped> {
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on("data", (res: Untyped) => {
      resolve(res);
      call.end();
    });
    call.on("error", reject);
    call.write(request);
  });
}

/** FileDescriptorSet { repeated FileDescriptorProto file = 1; } from the raw descriptors. */
function descriptorSet(files: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const len: number[] = [];
    let n = f.length;
    do {
      len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>>= 7;
    } while (n > 0);
    parts.push(Buffer.from([0x0a, ...len]), f);
  }
  return Buffer.concat(parts);
}

test("reflection lists the services and describes them well enough to call one", async () => {
  const reflectionProto = path.join(
    path.dirname(require.resolve("@grpc/reflection/package.json")),
    "build",
    "proto",
    "grpc",
    "reflection",
    "v1",
    "reflection.proto",
  );
  const Reflection = load(reflectionProto).grpc.reflection.v1.ServerReflection;
  const client = new Reflection(`127.0.0.1:${sys.port}`, viewer(), channelOptions(`127.0.0.1:${sys.port}`));
  const listed = await reflect(client, { list_services: "" });
  const names = listed.list_services_response.service.map((s: Untyped) => s.name);
  expect(names).toEqual(expect.arrayContaining(["rvss.v1.ShadowCopyAgent", "rvss.v1.BackupService"]));

  const described = await reflect(client, { file_containing_symbol: "rvss.v1.ShadowCopyAgent" });
  const files: Buffer[] = described.file_descriptor_response.file_descriptor_proto;
  const pkg = grpc.loadPackageDefinition(protoLoader.loadFileDescriptorSetFromBuffer(descriptorSet(files))) as Untyped;
  const agent = new pkg.rvss.v1.ShadowCopyAgent(
    `127.0.0.1:${sys.port}`,
    operator(),
    channelOptions(`127.0.0.1:${sys.port}`),
  );
  const answer = await new Promise<Untyped>((resolve, reject) =>
    agent.IsPathSupported({ svm: "r1", share_name: unc("r1", "share1") }, (err: Error | null, res: Untyped) =>
      err ? reject(err) : resolve(res),
    ),
  );
  expect(answer).toEqual({ supported_by_this_provider: true, owner_machine_name: "r1" });
  agent.close();
  client.close();
});

test("the standard health service reports each service SERVING", async () => {
  const Health = load(require("grpc-health-check").protoPath).grpc.health.v1.Health;
  const health = new Health(`127.0.0.1:${sys.port}`, viewer(), channelOptions(`127.0.0.1:${sys.port}`));
  for (const service of ["", "rvss.v1.ShadowCopyAgent", "rvss.v1.BackupService"]) {
    const res = await new Promise<Untyped>((resolve, reject) =>
      health.Check({ service }, (err: Error | null, r: Untyped) => (err ? reject(err) : resolve(r))),
    );
    expect([service, res.status]).toEqual([service, "SERVING"]);
  }
  health.close();
});
