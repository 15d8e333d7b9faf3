/**
 * `rvss up`: the whole system in the foreground until Ctrl-C. Uses NATS_URL when set, otherwise
 * starts a nats-server with its store under RVSS_HOME (~/.rvss); uses RVSS_FILER_CONFIG when set,
 * otherwise the sample filer under RVSS_HOME. Writes the context file later commands read, and
 * refuses to start while another `rvss up` runs or its ports are taken, before starting anything.
 * gRPC uses mutual TLS with a local CA and certificates kept in RVSS_HOME/pki (made on first start,
 * remade when they are about to expire).
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { ErrorCodes, RvssError } from "@rvss/core";
import { defaultConfig, loadConfig } from "@rvss/runtime";
import {
  NatsServer,
  SERVICES,
  createSampleFiler,
  ensurePki,
  findNatsServer,
  startRvss,
  type RvssProcesses,
  type ServiceName,
} from "@rvss/testkit";
import { contextFile, processAlive, readContext, removeContext, writeContext } from "../context";
import type { Register } from "../program";

function inUse(message: string): RvssError {
  return new RvssError(ErrorCodes.CONFIG_INVALID, message);
}

/** Resolves when `port` on `host` can be listened on, and fails naming the port and who set it otherwise. */
function assertFree(host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        inUse(
          `port ${port} (${what}) is ${err.code === "EADDRINUSE" ? "in use" : `unusable: ${err.code}`}; another rvss up?`,
        ),
      ),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** The services' health ports: RVSS_HEALTH_ADDR's port for the coordinator, the next ones for the others. */
function healthPorts(first: number): Record<ServiceName, number> {
  return Object.fromEntries(SERVICES.map((name, i) => [name, first + i])) as Record<ServiceName, number>;
}

async function up(): Promise<number> {
  const config = loadConfig();
  const defaults = defaultConfig();
  const home = config.home;
  const running = readContext(home);
  if (running && processAlive(running.pid))
    throw inUse(
      `rvss up is already running (pid ${running.pid}, gRPC ${running.grpcAddr}, NATS ${running.natsUrl}); stop it first`,
    );
  const [grpcHost, grpcPort] = config.grpcAddr.split(":") as [string, string];
  await assertFree(grpcHost, Number(grpcPort), `RVSS_GRPC_ADDR ${config.grpcAddr}`);
  const health = config.healthAddr ? healthPorts(Number(config.healthAddr.split(":")[1])) : null;
  for (const [name, port] of Object.entries(health ?? {}))
    await assertFree("127.0.0.1", port, `${name}'s health, from RVSS_HEALTH_ADDR ${config.healthAddr}`);

  fs.mkdirSync(home, { recursive: true });
  const ownNats = config.natsUrl === defaults.natsUrl;
  let filerConfig = config.filerConfig;
  if (filerConfig === defaults.filerConfig) {
    filerConfig = path.join(home, "filer.json");
    if (!fs.existsSync(filerConfig)) await createSampleFiler(home);
  }
  let nats: NatsServer | null = null;
  let rvss: RvssProcesses | null = null;
  try {
    if (ownNats) findNatsServer();
    nats = ownNats ? await NatsServer.start({ storeDir: path.join(home, "nats") }) : null;
    const natsUrl = nats?.url ?? config.natsUrl;
    rvss = await startRvss(
      {
        NATS_URL: natsUrl,
        RVSS_FILER_CONFIG: filerConfig,
        RVSS_GRPC_ADDR: config.grpcAddr,
        // A person reads these: one line per entry, prefixed with the service below.
        RVSS_LOG_FORMAT: process.env.RVSS_LOG_FORMAT || "pretty",
        RVSS_RESTORE_ROOTS:
          config.restoreRoots.length > 0 ? config.restoreRoots.join(":") : path.join(home, "restores"),
        ...(config.grpc.auth === "off" ? { RVSS_AUTH: "off" } : {}),
      },
      {
        onOutput: (name, line) => console.log(`[${name}] ${line}`),
        ...(health ? { healthPorts: health } : {}),
        pki: ensurePki(path.join(home, "pki")),
      },
    );
    writeContext(home, {
      grpcAddr: config.grpcAddr,
      natsUrl,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(rvss.pki ? { client: rvss.pki.clientAuth() } : {}),
    });
    const metrics = Object.values(rvss.services)
      .map((s) => `${s.name} http://127.0.0.1:${s.healthPort}/metrics`)
      .join(", ");
    console.log(`rvss is up: gRPC ${config.grpcAddr}, NATS ${natsUrl}, filer ${filerConfig}. Ctrl-C stops it.`);
    console.log(`Health and metrics: ${metrics}`);
    console.log(`Context for other commands: ${contextFile(home)}`);
    console.log("Try: rvss backup create --svm vs1 --share share1 --wait   (and: rvss events tail)");
    if (rvss.pki) {
      const env = Object.entries(rvss.pki.clientEnv())
        .map(([k, v]) => `${k}=${v}`)
        .join(" ");
      console.log(`gRPC needs a client certificate; as the admin: export ${env}`);
    } else console.log("WARNING: RVSS_AUTH=off: gRPC is plaintext and anyone may call it as an admin.");
    await new Promise<void>((resolve) => {
      process.once("SIGINT", () => resolve());
      process.once("SIGTERM", () => resolve());
    });
    console.log("stopping...");
    return 0;
  } finally {
    removeContext(home, process.pid);
    await rvss?.stop();
    await nats?.stop();
  }
}

export const upVerb: Register = (program, run) => {
  program
    .command("up")
    .description("run NATS (unless NATS_URL) and the four services here until Ctrl-C; later commands find them")
    .action(run(() => up()));
};
