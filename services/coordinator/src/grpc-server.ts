/**
 * The coordinator's gRPC server: BackupService, ScheduleService, ShadowCopyAgent, PreflightService,
 * health checking and server reflection, on a mutual-TLS listener (and, when configured, a
 * bearer-token listener); health alone on a plaintext port for probes. Every method has a policy
 * (core authz), or the server refuses to start. Certificates are re-read from their files, so
 * rotating them needs no restart.
 */
import * as fs from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { ErrorCodes, RvssError, errorMessage, methodsWithoutPolicy } from "@rvss/core";
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
import type { Logger, RvssConfig } from "@rvss/runtime";
import {
  authInterceptor,
  byBearerToken,
  byClientCertificate,
  byPeerAddress,
  loadPolicy,
  loadTokens,
  type AuditSink,
} from "./grpc-auth";

export interface GrpcServer {
  /** The port of the API (mTLS, or plaintext with RVSS_AUTH=off). */
  port: number;
  /** The port of the bearer-token listener; null when there is none. */
  tokenPort: number | null;
  /** The port of the plaintext health service; null when there is none. */
  healthPort: number | null;
  health: HealthImplementation;
  /** Every method the API serves, by gRPC path. */
  methods: readonly string[];
  stop(): Promise<void>;
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

/** A grpc-js server that remembers the paths of the methods added to it. */
class Server extends grpc.Server {
  readonly methods: string[] = [];
  override addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.methods.push(...Object.values(service).map((m) => m.path));
    super.addService(service, implementation);
  }
}

function bind(server: grpc.Server, addr: string, creds: grpc.ServerCredentials, variable: string): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(addr, creds, (err, p) =>
      err
        ? reject(
            new RvssError(ErrorCodes.CONFIG_INVALID, `cannot listen for gRPC on ${variable} ${addr}: ${err.message}`, {
              address: addr,
              variable,
            }),
          )
        : resolve(p),
    ),
  );
}

function mustRead(file: string, variable: string, what: string): void {
  if (file === "")
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `${variable} is not set: ${what} (or RVSS_AUTH=off)`, {
      variable,
    });
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `${variable}=${file}: cannot read ${what}: ${errorMessage(err)}`, {
      variable,
      file,
    });
  }
}

/**
 * Waits for the provider's first read of the files: a listener bound before it would reset every
 * connection until then. `release` drops the waiting listener once the listeners have theirs.
 */
async function firstLoad(files: grpc.experimental.FileWatcherCertificateProvider): Promise<{ release(): void }> {
  let listener: (u: unknown) => void = () => undefined;
  const update = await new Promise<unknown>((resolve) => {
    listener = resolve;
    files.addIdentityCertificateListener(listener);
  });
  const release = (): void => files.removeIdentityCertificateListener(listener);
  if (update === null) {
    release();
    throw new RvssError(ErrorCodes.CONFIG_INVALID, "cannot read the gRPC server certificate or key", {
      variable: "RVSS_GRPC_TLS_CERT",
    });
  }
  return { release };
}

function stopServer(server: grpc.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => server.forceShutdown(), 5_000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** `audit` receives every audit record (the coordinator publishes them to RVSS_AUDIT). */
export async function startGrpcServer(
  config: RvssConfig,
  services: Services,
  connection: ConnectionWatch,
  log: Logger,
  audit: AuditSink,
): Promise<GrpcServer> {
  const sec = config.grpc;
  const server = new Server({
    "grpc.max_receive_message_length": sec.maxReceiveBytes,
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
  const open = methodsWithoutPolicy(server.methods);
  if (open.length > 0)
    throw new RvssError(ErrorCodes.INTERNAL, `gRPC methods without an access policy: ${open.join(", ")}`);

  const withInterceptors = grpc.experimental.createServerCredentialsWithInterceptors;
  const certificates = grpc.experimental.createCertificateProviderServerCredentials;
  let port: number;
  let tokenPort: number | null = null;
  if (sec.auth === "off") {
    log.warn(
      { variable: "RVSS_AUTH" },
      "RVSS_AUTH=off: gRPC is plaintext and every caller is an admin; never run this way on a network",
    );
    const creds = withInterceptors(grpc.ServerCredentials.createInsecure(), [
      authInterceptor(byPeerAddress, "everyone-admin", "off", log, audit),
    ]);
    port = await bind(server, config.grpcAddr, creds, "RVSS_GRPC_ADDR");
  } else {
    mustRead(sec.tlsCert, "RVSS_GRPC_TLS_CERT", "the gRPC server certificate");
    mustRead(sec.tlsKey, "RVSS_GRPC_TLS_KEY", "the gRPC server key");
    mustRead(sec.clientCa, "RVSS_GRPC_CLIENT_CA", "the CA of client certificates");
    const policy = loadPolicy(sec);
    const files = new grpc.experimental.FileWatcherCertificateProvider({
      certificateFile: sec.tlsCert,
      privateKeyFile: sec.tlsKey,
      caCertificateFile: sec.clientCa,
      refreshIntervalMs: sec.tlsRefreshMs,
    });
    const loaded = await firstLoad(files);
    // One provider serves the CA and the identity, so the two argument slots cannot be confused.
    const mtls = withInterceptors(certificates(files, files, true), [
      authInterceptor(byClientCertificate, policy, "mtls", log, audit),
    ]);
    port = await bind(server, config.grpcAddr, mtls, "RVSS_GRPC_ADDR");
    if (sec.tokenAddr) {
      const tokens = byBearerToken(loadTokens(sec));
      const tls = withInterceptors(certificates(files, files, false), [
        authInterceptor(tokens, policy, "token", log, audit),
      ]);
      tokenPort = await bind(server, sec.tokenAddr, tls, "RVSS_GRPC_TOKEN_ADDR");
    }
    // The listeners now hold the certificates; the provider keeps watching the files for them.
    await new Promise((r) => setImmediate(r));
    loaded.release();
  }

  let probes: grpc.Server | null = null;
  let healthPort: number | null = null;
  if (config.grpcHealthAddr) {
    probes = new grpc.Server();
    health.addToServer(probes);
    healthPort = await bind(
      probes,
      config.grpcHealthAddr,
      grpc.ServerCredentials.createInsecure(),
      "RVSS_HEALTH_GRPC_ADDR",
    );
  }

  return {
    port,
    tokenPort,
    healthPort,
    health,
    methods: server.methods,
    async stop() {
      health.setStatus("", "NOT_SERVING");
      await Promise.all([stopServer(server), probes ? stopServer(probes) : Promise.resolve()]);
    },
  };
}
