/**
 * The context `rvss up` leaves in RVSS_HOME (context.json): where its coordinator and NATS listen.
 * Every command reads it for the variables the environment leaves unset, so the CLI finds what
 * `rvss up` started without copying addresses from its banner.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrorCodes, RvssError } from "@rvss/core";
import { loadConfig, type Env, type RvssConfig } from "@rvss/runtime";

export interface UpContext {
  grpcAddr: string;
  natsUrl: string;
  /** The admin's client certificate `rvss up` made, so later commands can call (RVSS_CA, RVSS_CERT, RVSS_KEY). */
  client?: { ca: string; cert: string; key: string };
  /** The NATS user later commands read events and dead letters as (RVSS_NATS_USER, RVSS_NATS_PASSWORD_FILE). */
  nats?: { user: string; passwordFile: string };
  /** The `rvss up` process; a context whose process is gone is stale. */
  pid: number;
  startedAt: string;
}

export function contextFile(home: string): string {
  return path.join(home, "context.json");
}

export function readContext(home: string): UpContext | null {
  let text: string;
  try {
    text = fs.readFileSync(contextFile(home), "utf8");
  } catch {
    return null;
  }
  try {
    const c = JSON.parse(text) as Partial<UpContext>;
    if (typeof c.grpcAddr === "string" && typeof c.natsUrl === "string" && typeof c.pid === "number")
      return c as UpContext;
  } catch {
    // Handled below: the same message for a file cut short and one with the wrong shape.
  }
  throw new RvssError(
    ErrorCodes.CONFIG_INVALID,
    `${contextFile(home)} is not a context written by rvss up; remove it or run rvss up again`,
    { path: contextFile(home) },
  );
}

/** Written next to its final name and renamed: a reader never sees half a file. */
export function writeContext(home: string, c: UpContext): void {
  const tmp = `${contextFile(home)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(c, null, 2) + "\n", { mode: 0o600 });
  fs.renameSync(tmp, contextFile(home));
}

/** Removes the context if it is still this process's. */
export function removeContext(home: string, pid: number): void {
  try {
    if (readContext(home)?.pid === pid) fs.rmSync(contextFile(home));
  } catch {
    // Another rvss up replaced it, or it is already gone: nothing of ours to remove.
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const NATS_CREDENTIALS = ["RVSS_NATS_USER", "RVSS_NATS_TOKEN_FILE", "RVSS_NATS_NKEY_SEED_FILE", "RVSS_NATS_CREDS"];

/**
 * The CLI's configuration: the environment, then the context of a running `rvss up`, then defaults.
 * The context's NATS user goes only to the context's NATS server, and only when the environment
 * names no credential of its own.
 */
export function cliConfig(): RvssConfig {
  const env = process.env;
  const home = loadConfig(env).home;
  const c = readContext(home);
  const toUpsNats = !env.NATS_URL && !NATS_CREDENTIALS.some((v) => env[v]);
  const fallback: Env =
    c && processAlive(c.pid)
      ? {
          RVSS_GRPC_ADDR: c.grpcAddr,
          NATS_URL: c.natsUrl,
          ...(c.client ? { RVSS_CA: c.client.ca, RVSS_CERT: c.client.cert, RVSS_KEY: c.client.key } : {}),
          ...(c.nats && toUpsNats ? { RVSS_NATS_USER: c.nats.user, RVSS_NATS_PASSWORD_FILE: c.nats.passwordFile } : {}),
        }
      : {};
  return loadConfig(env, fallback);
}
