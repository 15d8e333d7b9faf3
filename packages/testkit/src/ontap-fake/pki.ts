/**
 * A test certificate authority for the fake ONTAP: a server certificate for 127.0.0.1 / localhost
 * (what a fake cluster presents) and a client certificate (what rvss presents with certificate
 * login), made with the testkit's own CA helpers.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { issueCertificate, makeCa } from "../pki";

export interface TestPki {
  dir: string;
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** The client certificate's common name: the ONTAP user of a certificate login. */
  clientUser: string;
}

/** Makes the CA and both certificates in `dir` (created if needed). */
export function makeTestPki(dir: string, clientUser = "rvss-cert"): TestPki {
  fs.mkdirSync(dir, { recursive: true });
  makeCa(dir, "ca", "rvss test CA");
  const server = issueCertificate(dir, "ca", "server", "localhost", "IP:127.0.0.1,DNS:localhost", "serverAuth");
  const client = issueCertificate(dir, "ca", "client", clientUser, `DNS:${clientUser}`, "clientAuth");
  return {
    dir,
    caFile: path.join(dir, "ca.pem"),
    serverCert: fs.readFileSync(server.cert, "utf8"),
    serverKey: fs.readFileSync(server.key, "utf8"),
    clientCertFile: client.cert,
    clientKeyFile: client.key,
    clientUser,
  };
}
