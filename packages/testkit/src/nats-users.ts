/**
 * NATS users for one machine: one per rvss identity and per application writer, each with the
 * permissions core derives from the wire names and a random password in a 0600 file. `config` goes
 * into the nats-server's configuration (NatsServer.start({ config })); anonymous clients are
 * refused by it. Made anew at every call, so a new server start rotates every password.
 * `startSecureNats` starts a server with them over TLS: how the integration tests run NATS.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ConnectionOptions } from "@nats-io/transport-node";
import { natsConnectOptions } from "@rvss/bus";
import {
  ErrorCodes,
  RvssError,
  natsAuthorization,
  natsUsers,
  parseWriterGrant,
  writerIdentity,
  type NatsIdentity,
  type WriterIdentity,
} from "@rvss/core";
import { NatsServer, type NatsServerOptions } from "./nats-server";
import { testPki } from "./pki";

/**
 * The user a test drives the system as where no rvss identity may: it publishes what the fault
 * suite injects (malformed commands, duplicates) and reads or removes any stream's messages. Only
 * test servers have it (`startSecureNats`); the services never log in as it.
 */
export const TESTER = "tester";

/** A user `createNatsUsers` makes: an rvss identity, a writer's, or the tests' own. */
export type NatsUserName = NatsIdentity | WriterIdentity | typeof TESTER;

export interface NatsUsers {
  /** The authorization block. */
  config: string;
  /** The file holding `user`'s password. */
  passwordFile(user: NatsUserName): string;
  /**
   * What a process running as `user` needs (RVSS_NATS_USER, RVSS_NATS_PASSWORD_FILE), with every
   * other way of logging in cleared, so it is that identity and no other.
   */
  env(user: NatsUserName): Record<string, string>;
  /** A raw nats.js connection's options as `user` (a test's own reader or writer), TLS included. */
  connectOptions(user: NatsUserName): Partial<ConnectionOptions>;
  /** The writer SDK's options (startWriter) for writer `writerId` to log in as its own user. */
  writerLogin(writerId: string): {
    credentials: { user: string; passwordFile: string };
    tls?: { caFile: string };
    writerId: string;
  };
}

/**
 * `writers`: grants as `rvss nats-config --writer` takes them (`<id>` or `<id>=<svm>/<share>,...`);
 * `ca`: the CA of a server that serves TLS, which every user is then given (RVSS_NATS_CA);
 * `tester`: make the TESTER user too.
 */
export function createNatsUsers(
  dir: string,
  writers: readonly string[] = [],
  opts: { ca?: string; tester?: boolean } = {},
): NatsUsers {
  const { ca } = opts;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const passwordFile = (user: string): string => path.join(dir, `${user}.password`);
  const password = (user: string): string => {
    const pw = randomBytes(18).toString("base64url");
    // Renamed into place: a running writer re-reading its file at a reconnect never sees half of it.
    const tmp = `${passwordFile(user)}.tmp`;
    fs.writeFileSync(tmp, pw, { mode: 0o600 });
    fs.renameSync(tmp, passwordFile(user));
    return pw;
  };
  const users = natsUsers(password, writers.map(parseWriterGrant));
  if (opts.tester)
    users.push({
      user: TESTER,
      password: password(TESTER),
      permissions: {
        publish: { allow: [">"], deny: [] },
        subscribe: { allow: [">"], deny: [] },
        allowResponses: true,
      },
    });
  const known = new Set(users.map((u) => u.user));
  const fileOf = (user: NatsUserName): string => {
    if (!known.has(user))
      throw new RvssError(ErrorCodes.INVALID_ARGUMENT, `no NATS user ${user} was made`, { writers: writers.join() });
    return passwordFile(user);
  };
  return {
    config: natsAuthorization(users),
    passwordFile: fileOf,
    env: (user) => ({
      RVSS_NATS_USER: user,
      RVSS_NATS_PASSWORD_FILE: fileOf(user),
      RVSS_NATS_TOKEN_FILE: "",
      RVSS_NATS_NKEY_SEED_FILE: "",
      RVSS_NATS_CREDS: "",
      RVSS_NATS_INBOX_PREFIX: "",
      ...(ca ? { RVSS_NATS_CA: ca } : {}),
    }),
    connectOptions: (user) => ({
      ...natsConnectOptions({ user, passwordFile: fileOf(user) }, user),
      ...(ca ? { tls: { caFile: ca } } : {}),
    }),
    writerLogin: (writerId) => ({
      credentials: { user: writerIdentity(writerId), passwordFile: fileOf(writerIdentity(writerId)) },
      ...(ca ? { tls: { caFile: ca } } : {}),
      writerId,
    }),
  };
}

/**
 * The users of a test server: rvss's identities, `writers`' and the TESTER, each given the test
 * PKI's CA, made in `dir` (by default a temporary directory removed when the process exits).
 */
export function testNatsUsers(dir?: string, writers: readonly string[] = []): NatsUsers {
  const usersDir = dir ? path.join(dir, "nats-users") : fs.mkdtempSync(path.join(os.tmpdir(), "rvss-nats-users-"));
  if (!dir) process.once("exit", () => fs.rmSync(usersDir, { recursive: true, force: true }));
  return createNatsUsers(usersDir, writers, { ca: testPki().ca, tester: true });
}

/**
 * A nats-server as the integration tests run it: TLS only (the test PKI's server certificate) and
 * no user but `testNatsUsers`'.
 */
export async function startSecureNats(
  dir?: string,
  writers: readonly string[] = [],
  opts: NatsServerOptions = {},
): Promise<{ nats: NatsServer; users: NatsUsers }> {
  const users = testNatsUsers(dir, writers);
  const nats = await NatsServer.start({
    ...opts,
    tls: testPki().server,
    config: [users.config, opts.config ?? ""].join("\n"),
  });
  return { nats, users };
}
