/**
 * A certificate authority for one machine: a CA, the coordinator's server certificate (localhost,
 * 127.0.0.1), one client certificate per identity (URI SAN spiffe://rvss.local/<name>), the policy
 * file giving each identity its role, and a rogue CA with an intruder that claims to be admin.
 * Made with openssl (P-256, short-lived); tests, `rvss demo` and `rvss up` run with it so the
 * default on one machine is the authenticated one.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ErrorCodes, RvssError, type Role } from "@rvss/core";

/** The identities the PKI issues, each named after the role it holds; `nobody` holds none. */
export const PKI_IDENTITIES = ["admin", "viewer", "backup-operator", "restore-operator", "nobody"] as const;
export type PkiIdentity = (typeof PKI_IDENTITIES)[number];

export const principalOfIdentity = (name: string): string => `spiffe://rvss.local/${name}`;

export interface CertPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: string;
  server: CertPair;
  /** A client certificate per identity. */
  clients: Record<PkiIdentity, CertPair>;
  /** Signed by another CA, with the admin's URI SAN: must be refused. */
  intruder: CertPair;
  policy: string;
  tokens: string;
  /** The bearer token `token:dashboard` (a viewer) in clear. */
  viewerToken: string;
  /** What the coordinator needs to serve mTLS with this PKI. */
  serverEnv(): Record<string, string>;
  /** What a client (the CLI) needs to call as `identity`. */
  clientEnv(identity?: PkiIdentity): Record<string, string>;
  /** The client options of @rvss/client for `identity`. */
  clientAuth(identity?: PkiIdentity): { ca: string; cert: string; key: string };
}

const DAYS = "2";

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    if (e.code === "ENOENT")
      throw new RvssError(ErrorCodes.DEPENDENCY_MISSING, "openssl is not installed (apt-get install openssl)");
    throw new RvssError(
      ErrorCodes.INTERNAL,
      `openssl ${args[0]} failed: ${e.stderr?.toString().trim() ?? String(err)}`,
      { dir: cwd },
    );
  }
}

/** A self-signed CA `<name>.pem` / `<name>.key` in `dir` (shared with the ONTAP fake's PKI). */
export function makeCa(dir: string, name: string, cn: string): void {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      DAYS,
      "-subj",
      `/CN=${cn}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
}

/** A certificate and key `<name>.pem` / `<name>.key` signed by the CA `ca` in `dir`. */
export function issueCertificate(
  dir: string,
  ca: string,
  name: string,
  cn: string,
  san: string,
  usage: string,
): CertPair {
  openssl(
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${cn}`,
    ],
    dir,
  );
  fs.writeFileSync(
    path.join(dir, `${name}.ext`),
    `subjectAltName=${san}\nextendedKeyUsage=${usage}\nkeyUsage=critical,digitalSignature\n`,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      DAYS,
      "-extfile",
      `${name}.ext`,
    ],
    dir,
  );
  fs.rmSync(path.join(dir, `${name}.csr`));
  fs.rmSync(path.join(dir, `${name}.ext`));
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

function rolesOf(identity: PkiIdentity): Role[] {
  return identity === "nobody" ? [] : [identity];
}

/**
 * The PKI in `dir`, made there unless it already is (so `rvss up` keeps its certificates across
 * restarts while they are valid). Keys are written 0600.
 */
export function ensurePki(dir: string): Pki {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = (n: string): string => path.join(dir, n);
  const pair = (n: string): CertPair => ({ cert: file(`${n}.pem`), key: file(`${n}.key`) });
  const tokenFile = file("viewer.token");
  const fresh = !fs.existsSync(file("policy.json")) || !certStillValid(file("server.pem"), dir);
  if (fresh) {
    const old = process.umask(0o077);
    try {
      makeCa(dir, "ca", "rvss local CA");
      issueCertificate(dir, "ca", "server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", "serverAuth");
      for (const id of PKI_IDENTITIES)
        issueCertificate(dir, "ca", id, id, `URI:${principalOfIdentity(id)}`, "clientAuth");
      makeCa(dir, "rogue-ca", "rvss local CA");
      issueCertificate(dir, "rogue-ca", "intruder", "admin", `URI:${principalOfIdentity("admin")}`, "clientAuth");
      const principals: Record<string, Role[]> = { "token:dashboard": ["viewer"] };
      for (const id of PKI_IDENTITIES) if (rolesOf(id).length > 0) principals[principalOfIdentity(id)] = rolesOf(id);
      fs.writeFileSync(file("policy.json"), `${JSON.stringify({ principals }, null, 2)}\n`);
      const token = randomBytes(24).toString("base64url");
      fs.writeFileSync(tokenFile, token);
      const digest = createHash("sha256").update(token).digest("hex");
      fs.writeFileSync(file("tokens.json"), `${JSON.stringify({ dashboard: digest })}\n`);
    } finally {
      process.umask(old);
    }
  }
  const clients = Object.fromEntries(PKI_IDENTITIES.map((id) => [id, pair(id)])) as Record<PkiIdentity, CertPair>;
  const pki: Pki = {
    dir,
    ca: file("ca.pem"),
    server: pair("server"),
    clients,
    intruder: pair("intruder"),
    policy: file("policy.json"),
    tokens: file("tokens.json"),
    viewerToken: fs.readFileSync(tokenFile, "utf8"),
    serverEnv: () => ({
      RVSS_GRPC_TLS_CERT: pki.server.cert,
      RVSS_GRPC_TLS_KEY: pki.server.key,
      RVSS_GRPC_CLIENT_CA: pki.ca,
      RVSS_AUTHZ_POLICY: pki.policy,
      RVSS_GRPC_TOKENS_FILE: pki.tokens,
    }),
    clientEnv: (identity = "admin") => ({
      RVSS_CA: pki.ca,
      RVSS_CERT: clients[identity].cert,
      RVSS_KEY: clients[identity].key,
    }),
    clientAuth: (identity = "admin") => ({ ca: pki.ca, ...clients[identity] }),
  };
  return pki;
}

/** True while the certificate has more than an hour left. */
function certStillValid(cert: string, dir: string): boolean {
  if (!fs.existsSync(cert)) return false;
  try {
    execFileSync("openssl", ["x509", "-in", cert, "-noout", "-checkend", "3600"], { cwd: dir, stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

let shared: Pki | null = null;

/** One PKI per test process, in a temporary directory removed when the process exits. */
export function testPki(): Pki {
  if (shared) return shared;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rvss-pki-"));
  process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  shared = ensurePki(dir);
  return shared;
}
