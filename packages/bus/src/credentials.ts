/**
 * How a process proves who it is to NATS: a user and a password file, a token file, an nkey seed, or
 * a creds file (TLS is the bus's `tls`, RVSS_NATS_CA/CERT/KEY). Files are read at every (re)connect,
 * so a rotated secret is picked up without a restart.
 */
import * as fs from "node:fs";
import { ErrorCodes, RvssError, errorMessage, inboxPrefixOf } from "@rvss/core";
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type ConnectionOptions,
} from "@nats-io/transport-node";
import type { NatsCredentials } from "@rvss/runtime";

function reader(file: string, variable: string): () => string {
  return () => {
    try {
      return fs.readFileSync(file, "utf8").trim();
    } catch (err) {
      throw new RvssError(ErrorCodes.CONFIG_INVALID, `${variable}=${file}: cannot read it: ${errorMessage(err)}`, {
        variable,
        file,
      });
    }
  };
}

/** The connect options of `creds` for a process named `name`; anonymous when no credential is set. Replies arrive under `_INBOX_<user or name>`. */
export function natsConnectOptions(creds: Partial<NatsCredentials>, name: string): Partial<ConnectionOptions> {
  const ways: [string, Authenticator | null][] = [
    [
      "RVSS_NATS_USER",
      creds.user
        ? usernamePasswordAuthenticator(
            creds.user,
            creds.passwordFile ? reader(creds.passwordFile, "RVSS_NATS_PASSWORD_FILE") : undefined,
          )
        : null,
    ],
    [
      "RVSS_NATS_TOKEN_FILE",
      creds.tokenFile ? tokenAuthenticator(reader(creds.tokenFile, "RVSS_NATS_TOKEN_FILE")) : null,
    ],
    [
      "RVSS_NATS_NKEY_SEED_FILE",
      creds.nkeySeedFile
        ? nkeyAuthenticator(() => new TextEncoder().encode(reader(creds.nkeySeedFile!, "RVSS_NATS_NKEY_SEED_FILE")()))
        : null,
    ],
    [
      "RVSS_NATS_CREDS",
      creds.credsFile
        ? credsAuthenticator(() => new TextEncoder().encode(reader(creds.credsFile!, "RVSS_NATS_CREDS")()))
        : null,
    ],
  ];
  const set = ways.filter(([, a]) => a !== null);
  if (set.length > 1)
    throw new RvssError(
      ErrorCodes.CONFIG_INVALID,
      `NATS credentials are given twice (${set.map(([v]) => v).join(", ")}): set one way`,
    );
  return {
    ...(set[0] ? { authenticator: set[0][1]! } : {}),
    inboxPrefix: creds.inboxPrefix || inboxPrefixOf(creds.user || name),
  };
}
