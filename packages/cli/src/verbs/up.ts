/**
 * `rvss up`: the whole system in the foreground until Ctrl-C. Uses NATS_URL when set, otherwise
 * starts a nats-server with its store under RVSS_HOME (~/.rvss); uses RVSS_FILER_CONFIG when set,
 * otherwise the sample filer under RVSS_HOME. Writes the context file later commands read, and
 * refuses to start while another `rvss up` runs or its ports are taken, before starting anything.
 * gRPC uses mutual TLS with a local CA and certificates kept in RVSS_HOME/pki (made on first start,
 * remade when they are about to expire). Its own nats-server has one user per identity (passwords
 * in RVSS_HOME/nats-users, new at every start); each service logs in as itself, later commands as
 * the viewer, and each writer named with --writer as writer-<id>. RVSS_AUTH=off turns both off.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { ErrorCodes, RvssError, parseWriterGrant, writerIdentity } from "@rvss/core";
import { defaultConfig, loadConfig } from "@rvss/runtime";
import {
  NatsServer,
  SERVICES,
  createNatsUsers,
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

async function up(o: { writer?: string[] }): Promise<number> {
  const config = loadConfig();
  const defaults = defaultConfig();
  const home = config.home;
  const ownNats = config.natsUrl === defaults.natsUrl;
  const secure = config.grpc.auth !== "off";
  const writers = o.writer ?? [];
  if (writers.length > 0 && !ownNats)
    throw new RvssError(
      ErrorCodes.CONFIG_INVALID,
      "--writer makes users on rvss up's own nats-server, but NATS_URL names another: add the writers' users there (rvss nats-config --writer)",
    );
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

  if (!secure)
    console.log(
      `WARNING: RVSS_AUTH=off: gRPC is plaintext and anyone may call it as an admin${ownNats ? "; the nats-server takes anonymous clients, who may publish or delete anything" : ""}.`,
    );

  fs.mkdirSync(home, { recursive: true });
  let filerConfig = config.filerConfig;
  if (filerConfig === defaults.filerConfig) {
    filerConfig = path.join(home, "filer.json");
    if (!fs.existsSync(filerConfig)) await createSampleFiler(home);
  }
  let nats: NatsServer | null = null;
  let rvss: RvssProcesses | null = null;
  try {
    if (ownNats) findNatsServer();
    const usersDir = path.join(home, "nats-users");
    fs.rmSync(usersDir, { recursive: true, force: true });
    const users = ownNats && secure ? createNatsUsers(usersDir, writers) : null;
    nats = ownNats
      ? await NatsServer.start({ storeDir: path.join(home, "nats"), ...(users ? { config: users.config } : {}) })
      : null;
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
        ...(users ? { natsUsers: users } : {}),
      },
    );
    writeContext(home, {
      grpcAddr: config.grpcAddr,
      natsUrl,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      ...(rvss.pki ? { client: rvss.pki.clientAuth() } : {}),
      ...(users ? { nats: { user: "viewer", passwordFile: users.passwordFile("viewer") } } : {}),
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
    }
    if (users) {
      console.log(
        `NATS refuses anonymous clients: each service logs in as itself, later commands as viewer (passwords in ${usersDir}, new at every start)`,
      );
      for (const { writerId: w, shares } of writers.map(parseWriterGrant)) {
        const env = users.env(writerIdentity(w));
        console.log(
          `Writer ${w}: NATS_URL=${natsUrl} RVSS_NATS_USER=${env.RVSS_NATS_USER} RVSS_NATS_PASSWORD_FILE=${env.RVSS_NATS_PASSWORD_FILE}, writer ID ${w}, ${shares ? `shares ${shares.map((x) => `${x.svm}/${x.share}`).join(", ")}` : "any share"}`,
        );
      }
    }
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
    .option(
      "--writer <writer-id...>",
      "make a NATS user for each application writer ID (on rvss up's own nats-server); given as ID=SVM/SHARE[,SVM/SHARE...] it may register for those shares only",
    )
    .action(run((_s, o) => up(o)));
};
