/**
 * NATS users for one machine: one per rvss identity, each with the permissions core derives from the
 * wire names and a random password in a 0600 file. `config` goes into the nats-server's
 * configuration (NatsServer.start({ config })); anonymous clients are refused by it.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { NATS_IDENTITIES, natsAuthorization, natsPermissions, type NatsIdentity } from "@rvss/core";

export interface NatsUsers {
  /** The authorization block. */
  config: string;
  /** What a process running as `identity` needs (RVSS_NATS_USER, RVSS_NATS_PASSWORD_FILE). */
  env(identity: NatsIdentity): Record<string, string>;
}

export function createNatsUsers(dir: string): NatsUsers {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const passwords = new Map<NatsIdentity, string>();
  for (const id of NATS_IDENTITIES) {
    const password = randomBytes(18).toString("base64url");
    fs.writeFileSync(path.join(dir, `${id}.password`), password, { mode: 0o600 });
    passwords.set(id, password);
  }
  return {
    config: natsAuthorization(
      NATS_IDENTITIES.map((id) => ({ user: id, password: passwords.get(id)!, permissions: natsPermissions(id) })),
    ),
    env: (identity) => ({
      RVSS_NATS_USER: identity,
      RVSS_NATS_PASSWORD_FILE: path.join(dir, `${identity}.password`),
    }),
  };
}
