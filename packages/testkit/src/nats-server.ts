/**
 * Runs a real nats-server with JetStream on a free port, in its own store directory, for tests, the
 * demo and `rvss up`. It can be stopped, killed (-9) and restarted on the same port and store.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { ErrorCodes, RvssError } from "@rvss/core";
import { freePort } from "./ports";

export const NATS_INSTALL_HINT =
  "nats-server is not installed. On Debian or Ubuntu: sudo apt-get install -y nats-server " +
  "(the binary lands in /usr/sbin); elsewhere get it from https://github.com/nats-io/nats-server/releases " +
  "and put it on PATH or set NATS_SERVER_BIN. Or point rvss at a running server with JetStream: NATS_URL=nats://host:4222";

/** Finds the nats-server binary: $NATS_SERVER_BIN, then PATH, then the sbin directories Debian uses. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.NATS_SERVER_BIN,
    ...(env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "nats-server")),
    "/usr/sbin/nats-server",
    "/usr/local/sbin/nats-server",
    "/usr/local/bin/nats-server",
  ].filter((c): c is string => !!c);
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      continue;
    }
  }
  throw new RvssError(ErrorCodes.DEPENDENCY_MISSING, NATS_INSTALL_HINT, { program: "nats-server" });
}

export interface NatsServerOptions {
  /** Store directory; a new temporary one by default (removed on stop unless given). */
  storeDir?: string;
  port?: number;
  /** Extra config lines (e.g. a cluster block). */
  config?: string;
  serverName?: string;
  /** Extra environment of the server process (values its configuration refers to as $NAME). */
  env?: Record<string, string>;
  /** Serve TLS only, with this certificate and key (PEM files); the URL is then tls://. */
  tls?: { cert: string; key: string };
}

export class NatsServer {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private output = "";

  private constructor(
    readonly port: number,
    readonly storeDir: string,
    private readonly ownsStore: boolean,
    private readonly opts: NatsServerOptions,
  ) {}

  /** The server's process ID while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `${this.opts.tls ? "tls" : "nats"}://127.0.0.1:${this.port}`;
  }

  /** What the server logged lately (refused clients, permission violations). */
  log(): string {
    return this.output;
  }

  /**
   * Throws when the server logged a permission violation: an identity lacks a permission some flow
   * needs, which the server's log shows before anything else does.
   */
  assertNoViolations(): void {
    const lines = this.output.split("\n").filter((l) => l.includes("Violation"));
    if (lines.length > 0)
      throw new Error(`nats-server logged ${lines.length} permission violation(s): ${lines.slice(0, 3).join(" | ")}`);
  }

  /** The server_name it was given, if any (JetStream reports cluster leaders by it). */
  get serverName(): string | undefined {
    return this.opts.serverName;
  }

  /** True while the process runs. */
  running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const storeDir = opts.storeDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-nats-")));
    const server = new NatsServer(opts.port ?? (await freePort()), storeDir, opts.storeDir === undefined, opts);
    await server.launch();
    return server;
  }

  private async launch(): Promise<void> {
    const bin = findNatsServer();
    const conf = path.join(this.storeDir, "nats.conf");
    await fsp.mkdir(this.storeDir, { recursive: true });
    await fsp.writeFile(
      conf,
      [
        `listen: 127.0.0.1:${this.port}`,
        this.opts.serverName ? `server_name: ${this.opts.serverName}` : "",
        `jetstream { store_dir: "${path.join(this.storeDir, "js")}" }`,
        this.opts.tls ? `tls { cert_file: "${this.opts.tls.cert}", key_file: "${this.opts.tls.key}" }` : "",
        this.opts.config ?? "",
      ].join("\n"),
      // It may hold the users' passwords.
      { mode: 0o600 },
    );
    await fsp.chmod(conf, 0o600);
    const child = spawn(bin, ["-c", conf], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...this.opts.env },
    });
    this.child = child;
    let stderr = "";
    child.stderr!.on("data", (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-20_000);
      this.output = (this.output + b.toString()).slice(-200_000);
    });
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const ready = await Promise.race([
      waitFor(() => stderr.includes("Server is ready"), 15_000),
      this.exited.then(() => false),
    ]);
    if (!ready) {
      child.kill("SIGKILL");
      throw new RvssError(
        ErrorCodes.INTERNAL,
        `nats-server did not start on port ${this.port}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`,
        { port: this.port },
      );
    }
  }

  /** Graceful stop; the store is kept until `dispose`. */
  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    await this.exited;
  }

  /** kill -9: no chance to flush or say goodbye. */
  async kill(): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Starts again on the same port and store (also after `kill`). */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops and removes a temporary store. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsStore) await fsp.rm(this.storeDir, { recursive: true, force: true });
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}
