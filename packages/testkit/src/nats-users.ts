/**
 * NATS users for one machine: one per rvss identity and per application writer, each with the
 * permissions core derives from the wire names and a random password in a 0600 file. `config` goes
 * into the nats-server's configuration (NatsServer.start({ config })); anonymous clients are
 * refused by it. Made anew at every call, so a new server start rotates every password.
 * `startSecureNats` starts a server with them over TLS: how the integration tests run NATS.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ConnectionOptions } from "@nats-io/transport-node";
import {
  ErrorCodes,
  RvssError,
  inboxPrefixOf,
  natsAuthorization,
  natsUsers,
  parseWriterGrant,
  type NatsIdentity,
  type WriterIdentity,
} from "@rvss/core";
import { NatsServer, type NatsServerOptions } from "./nats-server";
import { testPki } from "./pki";

/** A user `createNatsUsers` makes: an rvss identity, or a writer's. */
export type NatsUserName = NatsIdentity | WriterIdentity;

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
  /** A raw nats.js connection's options as `user` (a test's own reader or writer). */
  connectOptions(user: NatsUserName): Pick<ConnectionOptions, "user" | "pass" | "inboxPrefix" | "tls">;
}

/**
 * `writers`: grants as `rvss nats-config --writer` takes them (`<id>` or `<id>=<svm>/<share>,...`);
 * `ca`: the CA of a server that serves TLS, which every user is then given (RVSS_NATS_CA).
 */
export function createNatsUsers(dir: string, writers: readonly string[] = [], ca?: string): NatsUsers {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const passwordFile = (user: string): string => path.join(dir, `${user}.password`);
  const users = natsUsers((user) => {
    const password = randomBytes(18).toString("base64url");
    // Renamed into place: a running writer re-reading its file at a reconnect never sees half of it.
    const tmp = `${passwordFile(user)}.tmp`;
    fs.writeFileSync(tmp, password, { mode: 0o600 });
    fs.renameSync(tmp, passwordFile(user));
    return password;
  }, writers.map(parseWriterGrant));
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
      user,
      pass: fs.readFileSync(fileOf(user), "utf8"),
      inboxPrefix: inboxPrefixOf(user),
      ...(ca ? { tls: { caFile: ca } } : {}),
    }),
  };
}

/**
 * A nats-server as the integration tests run it: TLS only (the test PKI's server certificate) and
 * no user but rvss's identities and `writers`' (`createNatsUsers`), made in `dir`.
 */
export async function startSecureNats(
  dir: string,
  writers: readonly string[] = [],
  opts: NatsServerOptions = {},
): Promise<{ nats: NatsServer; users: NatsUsers }> {
  const pki = testPki();
  const users = createNatsUsers(path.join(dir, "nats-users"), writers, pki.ca);
  const nats = await NatsServer.start({
    ...opts,
    tls: pki.server,
    config: [users.config, opts.config ?? ""].join("\n"),
  });
  return { nats, users };
}
