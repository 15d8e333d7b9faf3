/**
 * How a client proves who it is to the coordinator: a client certificate (mutual TLS), or a bearer
 * token over TLS (to the token listener). Plaintext only when RVSS_AUTH=off says the server is open.
 */
import * as fs from "node:fs";
import { credentials, Metadata, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { ErrorCodes, RvssError, errorMessage } from "@rvss/core";

/** PEM file paths, a token, or `insecure` for a server started with RVSS_AUTH=off (config's `clientAuth`). */
export interface ClientAuth {
  /** The CA that signed the server's certificate; the system's CAs when unset. */
  ca?: string;
  cert?: string;
  key?: string;
  token?: string;
  insecure?: boolean;
}

function read(file: string, variable: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `${variable}=${file}: cannot read it: ${errorMessage(err)}`, {
      variable,
      file,
    });
  }
}

/**
 * Channel options for `address`: a loopback IP is verified (and sent as SNI) as "localhost", the name
 * local certificates carry, since TLS forbids an IP address as the server name.
 */
export function channelOptions(address: string): ChannelOptions {
  const host = address.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  return host === "127.0.0.1" || host === "::1" ? { "grpc.ssl_target_name_override": "localhost" } : {};
}

export function channelCredentials(auth: ClientAuth): ChannelCredentials {
  if (auth.insecure) return credentials.createInsecure();
  const ca = auth.ca ? read(auth.ca, "RVSS_CA") : null;
  if (auth.cert || auth.key) {
    if (!auth.cert || !auth.key)
      throw new RvssError(ErrorCodes.CONFIG_INVALID, "a client certificate needs both RVSS_CERT and RVSS_KEY");
    return credentials.createSsl(ca, read(auth.key, "RVSS_KEY"), read(auth.cert, "RVSS_CERT"));
  }
  if (auth.token) {
    const header = `Bearer ${auth.token}`;
    return credentials.combineChannelCredentials(
      credentials.createSsl(ca),
      credentials.createFromMetadataGenerator((_p, cb) => {
        const md = new Metadata();
        md.set("authorization", header);
        cb(null, md);
      }),
    );
  }
  throw new RvssError(
    ErrorCodes.UNAUTHENTICATED,
    "no gRPC credentials: set RVSS_CERT and RVSS_KEY (and RVSS_CA), or RVSS_TOKEN, or RVSS_AUTH=off for a server started that way",
  );
}
