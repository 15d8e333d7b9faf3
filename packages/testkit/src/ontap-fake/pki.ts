/**
 * A test certificate authority made with openssl: a server certificate for 127.0.0.1 / localhost
 * (what a fake cluster presents) and a client certificate (what rvss presents with certificate login).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

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

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** Makes the CA and both certificates in `dir` (created if needed). */
export function makeTestPki(dir: string, clientUser = "rvss-cert"): TestPki {
  fs.mkdirSync(dir, { recursive: true });
  const days = ["-days", "2"];
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    ...days,
    "-subj",
    "/CN=rvss test CA",
  ]);
  const sign = (name: string, subject: string, ext: string): void => {
    openssl(dir, [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subject,
    ]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      ...days,
      "-extfile",
      `${name}.ext`,
    ]);
  };
  sign("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  sign("client", `/CN=${clientUser}`, "extendedKeyUsage=clientAuth\n");
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), "utf8");
  return {
    dir,
    caFile: path.join(dir, "ca.pem"),
    serverCert: read("server.pem"),
    serverKey: read("server.key"),
    clientCertFile: path.join(dir, "client.pem"),
    clientKeyFile: path.join(dir, "client.key"),
    clientUser,
  };
}
