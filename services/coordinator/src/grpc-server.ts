/** The coordinator's gRPC server: BackupService, ScheduleService, ShadowCopyAgent, PreflightService, health checking and server reflection. */
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { ErrorCodes, RvssError } from "@rvss/core";
import type { ConnectionWatch } from "@rvss/bus";
import { toServiceError } from "./grpc-errors";
import { DescriptorReflection } from "./reflection";
import {
  BackupServiceService,
  PreflightServiceService,
  ServerInfoServiceService,
  ScheduleServiceService,
  ShadowCopyAgentService,
  descriptorSetPath,
  type BackupServiceServer,
  type PreflightServiceServer,
  type ServerInfoServiceServer,
  type ScheduleServiceServer,
  type ShadowCopyAgentServer,
} from "@rvss/proto";

export interface GrpcServer {
  server: grpc.Server;
  port: number;
  health: HealthImplementation;
}

export interface Services {
  backups: BackupServiceServer;
  schedules: ScheduleServiceServer;
  agent: ShadowCopyAgentServer;
  preflight: PreflightServiceServer;
  info: ServerInfoServiceServer;
}

/** The services whose calls read or write durable state, so need NATS. */
const NEEDS_NATS = [
  "rvss.v1.BackupService",
  "rvss.v1.ScheduleService",
  "rvss.v1.ShadowCopyAgent",
  "rvss.v1.PreflightService",
];

/**
 * While NATS is lost, a call that needs it is answered UNAVAILABLE with the reason at once (a client
 * retries another replica or later) instead of waiting for a timeout.
 */
function needsNats(connection: ConnectionWatch): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const gated = NEEDS_NATS.some((name) => method.path.startsWith(`/${name}/`));
            const reason = gated ? connection.unready() : null;
            if (reason === null) return pass(metadata);
            const e = toServiceError(new RvssError(ErrorCodes.NATS_UNAVAILABLE, reason));
            call.sendStatus({ code: e.code!, details: e.details!, metadata: e.metadata! });
          },
        });
      },
    });
}

export async function startGrpcServer(
  addr: string,
  services: Services,
  connection: ConnectionWatch,
): Promise<GrpcServer> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    interceptors: [needsNats(connection)],
  });
  server.addService(BackupServiceService, services.backups);
  server.addService(ScheduleServiceService, services.schedules);
  server.addService(ShadowCopyAgentService, services.agent);
  server.addService(PreflightServiceService, services.preflight);
  server.addService(ServerInfoServiceService, services.info);
  // The server's own info answers from memory, NATS or not.
  const health = new HealthImplementation({ "rvss.v1.ServerInfoService": "SERVING" });
  const setHealth = (): void => {
    const status = connection.unready() === null ? "SERVING" : "NOT_SERVING";
    for (const name of ["", ...NEEDS_NATS]) health.setStatus(name, status);
  };
  setHealth();
  connection.onChange(setHealth);
  health.addToServer(server);
  DescriptorReflection.fromFile(descriptorSetPath).addToServer(server);
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
