/**
 * Starts rvss services as separate processes (as in production), each on its own health port, and
 * waits until they report ready. Used by the end-to-end tests, the demo and `rvss up`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as http from "node:http";
import * as os from "node:os";
import { connectBus, provisionNats, type Bus, type Provisioned } from "@rvss/bus";
import { ErrorCodes, RvssError } from "@rvss/core";
import { createLogger, loadConfig } from "@rvss/runtime";
import type { NatsUserName, NatsUsers } from "./nats-users";
import { testPki, type Pki } from "./pki";
import { freePort } from "./ports";

export const SERVICES = ["coordinator", "share-discovery", "snapshot-executor", "auto-recovery-notifier"] as const;
export type ServiceName = (typeof SERVICES)[number];

export function serviceEntry(name: ServiceName): string {
  return require.resolve(`@rvss/${name}/dist/main.js`);
}

export interface ServiceProcess {
  name: ServiceName;
  healthPort: number;
  pid: number;
  /** Everything the process wrote, for diagnosis. */
  output(): string;
  /** SIGTERM and wait (graceful). */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** SIGSTOP: the process freezes where it is (work, acks and heartbeats stop) until `resume`. */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
  exited(): boolean;
}

/**
 * Starts one service; a coordinator serves mTLS with the test PKI unless `env` has its own or
 * RVSS_AUTH=off; restores may write under the temporary directory unless `env` says otherwise.
 */
export async function startService(
  name: ServiceName,
  env: Record<string, string>,
  opts: { onOutput?: (line: string) => void; healthPort?: number } = {},
): Promise<ServiceProcess> {
  const healthPort = opts.healthPort ?? (await freePort());
  const pki = env.RVSS_AUTH === "off" || env.RVSS_GRPC_TLS_CERT ? {} : testPki().serverEnv();
  const child: ChildProcess = spawn(process.execPath, [serviceEntry(name)], {
    env: {
      RVSS_RESTORE_ROOTS: os.tmpdir(),
      ...process.env,
      ...pki,
      ...env,
      RVSS_HEALTH_ADDR: `127.0.0.1:${healthPort}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const collect = (b: Buffer): void => {
    const text = b.toString();
    out = (out + text).slice(-200_000);
    if (opts.onOutput) for (const line of text.split("\n")) if (line) opts.onOutput(line);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const proc: ServiceProcess = {
    name,
    healthPort,
    pid: child.pid!,
    output: () => out,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async stop() {
      if (proc.exited()) return;
      child.kill("SIGTERM");
      await exit;
    },
    async kill() {
      if (proc.exited()) return;
      child.kill("SIGKILL");
      await exit;
    },
    pause() {
      if (!proc.exited()) child.kill("SIGSTOP");
    },
    resume() {
      if (!proc.exited()) child.kill("SIGCONT");
    },
  };
  const deadline = Date.now() + 20_000;
  while (!(await isReady(healthPort))) {
    if (proc.exited()) {
      throw new RvssError(ErrorCodes.INTERNAL, `${name} exited during start-up: ${lastWords(out)}`, { service: name });
    }
    if (Date.now() > deadline) {
      await proc.kill();
      throw new RvssError(ErrorCodes.TIMEOUT, `${name} was not ready within 20 s: ${lastWords(out)}`, {
        service: name,
      });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return proc;
}

/** What a process said last: its last log lines, and all of a crash's stack if it printed one. */
function lastWords(out: string): string {
  const lines = out.trim().split("\n");
  let start = Math.max(0, lines.length - 3);
  while (start > 0 && !lines[start]!.startsWith("{")) start--;
  return lines.slice(start).slice(-30).join(" | ");
}

function isReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/readyz", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
  });
}

export interface RvssProcesses {
  grpcAddr: string;
  /** The certificates the coordinator serves with; null with RVSS_AUTH=off. */
  pki: Pki | null;
  services: Record<ServiceName, ServiceProcess>;
  stop(): Promise<void>;
}

/**
 * Creates or updates every stream, consumer and bucket as the provisioner, the one identity that
 * may change them, with the settings (replicas, ack wait, windows) the services get from `env`:
 * what `rvss provision` does.
 */
export async function provisionAs(users: NatsUsers, env: Record<string, string>): Promise<Provisioned[]> {
  const config = loadConfig({ ...process.env, ...env, ...users.env("provisioner") });
  return provisionNats(config, createLogger("provisioner", { logLevel: "warn", logFormat: config.logFormat }));
}

/** A connection as one of `users`' identities, bound to what the provisioner made (it changes nothing). */
export function connectAs(users: NatsUsers, natsUrl: string, identity: NatsUserName): Promise<Bus> {
  const config = loadConfig({ ...process.env, NATS_URL: natsUrl, ...users.env(identity) });
  return connectBus(config, identity, createLogger(identity, { logLevel: "warn", logFormat: config.logFormat }));
}

/**
 * All four services as separate processes against one NATS server and one filer description; the
 * coordinator serves mTLS with `opts.pki` (the test PKI by default) unless `env` says RVSS_AUTH=off;
 * with `opts.natsUsers` the provisioner makes the streams first, then each service connects to
 * NATS as its own identity.
 */
export async function startRvss(
  env: Record<string, string> & { NATS_URL: string; RVSS_FILER_CONFIG: string },
  opts: {
    onOutput?: (name: ServiceName, line: string) => void;
    /** Health ports to use instead of free ones (rvss up honours RVSS_HEALTH_ADDR with them). */
    healthPorts?: Partial<Record<ServiceName, number>>;
    pki?: Pki;
    natsUsers?: NatsUsers;
  } = {},
): Promise<RvssProcesses> {
  const grpcAddr = env.RVSS_GRPC_ADDR ?? `127.0.0.1:${await freePort()}`;
  const pki = env.RVSS_AUTH === "off" ? null : (opts.pki ?? testPki());
  const full = { RVSS_GRPC_ADDR: grpcAddr, ...pki?.serverEnv(), ...env };
  const services = {} as Record<ServiceName, ServiceProcess>;
  if (opts.natsUsers) await provisionAs(opts.natsUsers, full);
  try {
    for (const name of SERVICES) {
      services[name] = await startService(
        name,
        { ...full, ...opts.natsUsers?.env(name) },
        {
          ...(opts.onOutput ? { onOutput: (l: string) => opts.onOutput!(name, l) } : {}),
          ...(opts.healthPorts?.[name] ? { healthPort: opts.healthPorts[name] } : {}),
        },
      );
    }
  } catch (err) {
    await Promise.all(Object.values(services).map((s) => s.kill()));
    throw err;
  }
  return {
    grpcAddr,
    pki,
    services,
    stop: async () => {
      await Promise.all(Object.values(services).map((s) => s.stop()));
    },
  };
}
