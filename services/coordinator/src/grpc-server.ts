/** The coordinator's gRPC server: BackupService, ShadowCopyAgent, PreflightService, health checking and server reflection. */
import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { ErrorCodes, RvssError } from "@rvss/core";
import {
  BackupServiceService,
  PreflightServiceService,
  ServerInfoServiceService,
  ShadowCopyAgentService,
  descriptorSetPath,
  type BackupServiceServer,
  type PreflightServiceServer,
  type ServerInfoServiceServer,
  type ShadowCopyAgentServer,
} from "@rvss/proto";

export interface GrpcServer {
  server: grpc.Server;
  port: number;
  health: HealthImplementation;
}

export interface Services {
  backups: BackupServiceServer;
  agent: ShadowCopyAgentServer;
  preflight: PreflightServiceServer;
  info: ServerInfoServiceServer;
}

export async function startGrpcServer(addr: string, services: Services): Promise<GrpcServer> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  server.addService(BackupServiceService, services.backups);
  server.addService(ShadowCopyAgentService, services.agent);
  server.addService(PreflightServiceService, services.preflight);
  server.addService(ServerInfoServiceService, services.info);
  const health = new HealthImplementation({
    "": "SERVING",
    "rvss.v1.BackupService": "SERVING",
    "rvss.v1.ShadowCopyAgent": "SERVING",
    "rvss.v1.PreflightService": "SERVING",
    "rvss.v1.ServerInfoService": "SERVING",
  });
  health.addToServer(server);
  new ReflectionService(protoLoader.loadFileDescriptorSetFromBuffer(fs.readFileSync(descriptorSetPath))).addToServer(
    server,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err
        ? reject(
            new RvssError(ErrorCodes.CONFIG_INVALID, `cannot listen for gRPC on ${addr}: ${err.message}`, {
              address: addr,
            }),
          )
        : resolve(p),
    ),
  );
  return { server, port, health };
}
