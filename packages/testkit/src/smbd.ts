/**
 * A private Samba server for tests: its own smb.conf with registry shares, state directories in a
 * temporary directory, listening only on 127.0.0.1 at a free port, one SMB user (the system account
 * `nobody`, in a private password database). Stopped by its process ID, with the samba-dcerpcd it
 * may have started. Needs root (net conf writes the registry as root).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import * as net from "node:net";
import { freePort } from "./ports";

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

const run = promisify(execFile);

export interface Smbd {
  /** Its smb.conf (give it to `net -s`, `smbcontrol -s`, and the filer's samba.config). */
  config: string;
  port: number;
  user: string;
  password: string;
  /** Runs smbclient commands (`-c`) on //127.0.0.1/<share>; resolves with its output, even on failure. */
  smbclient(share: string, commands: string): Promise<{ ok: boolean; output: string }>;
  /** A connection kept open: commands go to its stdin, one at a time. */
  openSession(share: string): Promise<SmbSession>;
  /** Adds a registry share (as an administrator would for the SVM's base shares). */
  addShare(name: string, dir: string, params: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

export interface SmbSession {
  /** Sends one smbclient command and returns what it printed until the prompt came back. */
  run(command: string): Promise<string>;
  close(): Promise<void>;
}

export function smbdUnavailable(): string | null {
  return process.getuid?.() === 0 ? null : "Samba tests need root (net conf writes the registry as root)";
}

export async function startSmbd(dir: string): Promise<Smbd> {
  const port = await freePort();
  const d = (n: string) => path.join(dir, n);
  for (const n of ["private", "lock", "state", "cache", "run", "ncalrpc", "log"])
    await fsp.mkdir(d(n), { recursive: true });
  const config = d("smb.conf");
  await fsp.writeFile(
    config,
    [
      "[global]",
      "  netbios name = RVSSTEST",
      "  workgroup = RVSS",
      "  server role = standalone server",
      "  server min protocol = SMB2_10",
      "  interfaces = 127.0.0.1",
      "  bind interfaces only = yes",
      `  smb ports = ${port}`,
      "  disable netbios = yes",
      "  registry shares = yes",
      `  private dir = ${d("private")}`,
      `  lock directory = ${d("lock")}`,
      `  state directory = ${d("state")}`,
      `  cache directory = ${d("cache")}`,
      `  pid directory = ${d("run")}`,
      `  ncalrpc dir = ${d("ncalrpc")}`,
      `  log file = ${d("log")}/log.%m`,
      `  passdb backend = tdbsam:${d("private")}/passdb.tdb`,
      "  load printers = no",
      "  printing = bsd",
      "  printcap name = /dev/null",
      "  disable spoolss = yes",
      "",
    ].join("\n"),
  );
  const user = "nobody";
  const password = "rvss-test-pw";
  await new Promise<void>((resolve, reject) => {
    const p = spawn("smbpasswd", ["-c", config, "-a", "-s", user], { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (b: Buffer) => (err += b.toString()));
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`smbpasswd failed: ${err.trim()}`))));
    p.stdin.end(`${password}\n${password}\n`);
  });
  const logFd = fs.openSync(d("log/smbd.out"), "a");
  // Its own session (detached): on shutdown smbd signals its whole process group, which must not be ours.
  const smbd: ChildProcess = spawn("smbd", ["--foreground", "--no-process-group", "--debug-stdout", "-s", config], {
    // A file, not a pipe: smbd's children keep its output open after it stopped.
    stdio: ["ignore", logFd, logFd],
    detached: true,
  });
  fs.closeSync(logFd);
  const log = async () => (await fsp.readFile(d("log/smbd.out"), "utf8").catch(() => "")).slice(-4000).trim();
  const exited = new Promise<void>((resolve) => smbd.on("exit", () => resolve()));
  const auth = ["-s", config, "-p", String(port), "-U", `${user}%${password}`];
  const smbclient = async (share: string, commands: string) => {
    try {
      const r = await run("smbclient", [...auth, `//127.0.0.1/${share}`, "-c", commands]);
      return { ok: true, output: r.stdout + r.stderr };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      return { ok: false, output: (e.stdout ?? "") + (e.stderr ?? "") || e.message };
    }
  };
  // Its process group: smbd and the helpers it forked. The group may be gone before Node has
  // seen smbd's exit (ESRCH): then there is nothing left to stop.
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-smbd.pid!, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  };
  const stop = async () => {
    if (smbd.exitCode === null) {
      signalGroup("SIGTERM");
      await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
      if (smbd.exitCode === null) signalGroup("SIGKILL");
    }
    // samba-dcerpcd is started on demand (smbclient -L) and writes its pid beside smbd's.
    const pid = Number(await fsp.readFile(d("run/samba-dcerpcd.pid"), "utf8").catch(() => "0"));
    if (pid > 0) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // Already gone.
      }
    }
  };
  // Ready when it accepts connections.
  for (let i = 0; !(await accepts(port)); i++) {
    if (smbd.exitCode !== null) throw new Error(`smbd exited at start: ${await log()}`);
    if (i > 100) {
      await stop();
      throw new Error(`smbd did not listen on 127.0.0.1:${port}: ${await log()}`);
    }
    await sleep(100);
  }
  return {
    config,
    port,
    user,
    password,
    smbclient,
    async openSession(share: string): Promise<SmbSession> {
      // On a pipe smbclient prints no prompt and buffers its output; script(1) gives it a terminal.
      const line = ["smbclient", ...auth, `//127.0.0.1/${share}`].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
      const p = spawn("script", ["-qfec", line, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      const waiters: (() => void)[] = [];
      const onData = (b: Buffer) => {
        out += b.toString();
        for (const w of waiters.splice(0)) w();
      };
      p.stdout.on("data", onData);
      p.stderr.on("data", onData);
      const untilPrompt = async (): Promise<string> => {
        const end = Date.now() + 10_000;
        while (!/smb: \\[^\n]*> $/.test(out)) {
          if (p.exitCode !== null || Date.now() > end) break;
          await new Promise<void>((resolve) => {
            waiters.push(resolve);
            setTimeout(resolve, 200);
          });
        }
        const said = out;
        out = "";
        return said;
      };
      await untilPrompt();
      return {
        async run(command: string) {
          p.stdin.write(`${command}\r`);
          return untilPrompt();
        },
        async close() {
          if (p.exitCode !== null) return;
          const gone = new Promise((resolve) => p.once("exit", resolve));
          p.stdin.end("exit\r");
          await Promise.race([gone, sleep(2000, undefined, { ref: false })]);
          if (p.exitCode === null) p.kill("SIGKILL");
        },
      };
    },
    async addShare(name: string, shareDir: string, params: Record<string, string>) {
      await run("net", ["-s", config, "conf", "addshare", name, shareDir, "writeable=y", "guest_ok=N", name]);
      for (const [k, v] of Object.entries(params)) await run("net", ["-s", config, "conf", "setparm", name, k, v]);
    },
    stop,
  };
}
