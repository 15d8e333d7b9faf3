/**
 * The ONTAP part of the filer description: the clusters, and the SVMs that live on them. Local and
 * ONTAP SVMs may be mixed in one file; an SVM is ONTAP's when it says `"backend": "ontap"` (or when
 * RVSS_STORAGE=ontap makes that the default).
 *
 * {
 *   "clusters": [{
 *     "name": "cluster1",
 *     "addresses": ["cluster1-mgmt.example.com"],  // management LIFs, tried in order
 *     "username": "rvss", "passwordFile": "secrets/cluster1.password",
 *     //  or "certFile": "secrets/rvss.crt", "keyFile": "secrets/rvss.key"
 *     "caFile": "secrets/cluster1-ca.pem",          // optional: the system's CAs otherwise
 *     "maxInFlight": 10, "jobTimeoutMs": 120000      // optional
 *   }],
 *   "svms": [{ "name": "vs1", "backend": "ontap", "cluster": "cluster1", "svm": "vs1",
 *              "aliases": ["vs1.corp.example"] }]      // svm and aliases optional
 * }
 *
 * Files are relative to the filer description. Secrets are read here once and never appear in an
 * error, a log line or an event: errors name the file, never its content.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ErrorCodes, RvssError } from "@rvss/core";

export type ClusterAuth =
  { kind: "password"; username: string; password: string } | { kind: "certificate"; cert: string; key: string };

export interface OntapClusterConfig {
  name: string;
  /** host or host:port of each management LIF; HTTPS on 443 unless a port is given. */
  addresses: string[];
  auth: ClusterAuth;
  /** PEM bundle of the CAs that sign the cluster's certificate; null: the system's CAs. */
  ca: string | null;
  /** Requests in flight to the cluster at most. */
  maxInFlight: number;
  /** How long an async job may run before the call fails. */
  jobTimeoutMs: number;
  /** How long ONTAP may hold a call to finish its job before answering 202 (return_timeout). */
  returnTimeoutS: number;
  /** Attempts of a call that failed with a 5xx or a lost connection. */
  attempts: number;
}

export interface OntapSvmConfig {
  /** The name rvss knows the SVM by (subjects, records, requests). */
  name: string;
  cluster: string;
  /** ONTAP's name or UUID of the SVM. */
  svm: string;
  /** Other names requestors use for the SVM in UNC paths (its CIFS server's name is known already). */
  aliases: string[];
}

export interface OntapConfig {
  clusters: OntapClusterConfig[];
  svms: OntapSvmConfig[];
}

export type BackendName = "local" | "ontap";

export const ONTAP_DEFAULTS = { maxInFlight: 10, jobTimeoutMs: 120_000, returnTimeoutS: 15, attempts: 3 } as const;

function bad(file: string, where: string, message: string): RvssError {
  return new RvssError(ErrorCodes.CONFIG_INVALID, `${file}: ${where}: ${message}`, { path: file, field: where });
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(file: string, o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string" || v === "") throw bad(file, `${where}.${key}`, "must be a non-empty string");
  return v;
}

function optStr(file: string, o: Obj, key: string, where: string): string | null {
  return o[key] === undefined ? null : str(file, o, key, where);
}

function int(file: string, o: Obj, key: string, where: string, dflt: number, min: number): number {
  const v = o[key] ?? dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min)
    throw bad(file, `${where}.${key}`, `must be an integer >= ${min}`);
  return v;
}

/** Reads a secret or certificate file named in the description; the message names the file only. */
function readNamed(file: string, where: string, name: string): string {
  const p = path.resolve(path.dirname(file), name);
  try {
    return fs.readFileSync(p, "utf8");
  } catch (err) {
    throw bad(file, where, `cannot read ${p} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/** Which backend an SVM entry of the filer description belongs to. */
export function svmBackend(file: string, s: Obj, where: string, dflt: BackendName): BackendName {
  const b = s["backend"] ?? dflt;
  if (b !== "local" && b !== "ontap") throw bad(file, `${where}.backend`, `"${String(b)}" must be "local" or "ontap"`);
  return b;
}

function parseCluster(file: string, c: Obj, where: string): OntapClusterConfig {
  const name = str(file, c, "name", where);
  const addresses = c["addresses"];
  if (!Array.isArray(addresses) || addresses.length === 0 || addresses.some((a) => typeof a !== "string" || a === ""))
    throw bad(file, `${where}.addresses`, "must be a non-empty array of host or host:port strings");
  const passwordFile = optStr(file, c, "passwordFile", where);
  const certFile = optStr(file, c, "certFile", where);
  let auth: ClusterAuth;
  if (passwordFile !== null && certFile === null) {
    // A password file usually ends with a newline; the password itself never does.
    const password = readNamed(file, `${where}.passwordFile`, passwordFile).replace(/\r?\n$/, "");
    if (password === "") throw bad(file, `${where}.passwordFile`, "the password file is empty");
    auth = { kind: "password", username: str(file, c, "username", where), password };
  } else if (certFile !== null && passwordFile === null) {
    auth = {
      kind: "certificate",
      cert: readNamed(file, `${where}.certFile`, certFile),
      key: readNamed(file, `${where}.keyFile`, str(file, c, "keyFile", where)),
    };
  } else {
    throw bad(file, where, 'give either "username" with "passwordFile", or "certFile" with "keyFile"');
  }
  const caFile = optStr(file, c, "caFile", where);
  return {
    name,
    addresses: addresses as string[],
    auth,
    ca: caFile === null ? null : readNamed(file, `${where}.caFile`, caFile),
    maxInFlight: int(file, c, "maxInFlight", where, ONTAP_DEFAULTS.maxInFlight, 1),
    jobTimeoutMs: int(file, c, "jobTimeoutMs", where, ONTAP_DEFAULTS.jobTimeoutMs, 1000),
    returnTimeoutS: int(file, c, "returnTimeoutS", where, ONTAP_DEFAULTS.returnTimeoutS, 0),
    attempts: int(file, c, "attempts", where, ONTAP_DEFAULTS.attempts, 1),
  };
}

/** The clusters and ONTAP SVMs of a parsed filer description; every error names the file and the field. */
export function parseOntapConfig(doc: Obj, file: string, dflt: BackendName): OntapConfig {
  const rawClusters = doc["clusters"] ?? [];
  if (!Array.isArray(rawClusters)) throw bad(file, "$.clusters", "must be an array");
  const clusters = rawClusters.map((c, i) => {
    if (!isObj(c)) throw bad(file, `clusters[${i}]`, "must be an object");
    return parseCluster(file, c, `clusters[${i}]`);
  });
  const seen = new Set<string>();
  clusters.forEach((c, i) => {
    if (seen.has(c.name)) throw bad(file, `clusters[${i}].name`, `cluster "${c.name}" is defined twice`);
    seen.add(c.name);
  });
  const rawSvms = doc["svms"];
  if (!Array.isArray(rawSvms)) throw bad(file, "$.svms", "must be an array");
  const svms: OntapSvmConfig[] = [];
  const names = new Set<string>();
  rawSvms.forEach((s, i) => {
    const where = `svms[${i}]`;
    if (!isObj(s)) throw bad(file, where, "must be an object");
    if (svmBackend(file, s, where, dflt) !== "ontap") return;
    const name = str(file, s, "name", where);
    if (names.has(name)) throw bad(file, `${where}.name`, `SVM "${name}" is defined twice`);
    names.add(name);
    const cluster = str(file, s, "cluster", where);
    if (!seen.has(cluster))
      throw bad(
        file,
        `${where}.cluster`,
        `cluster "${cluster}" is not defined (known: ${[...seen].join(", ") || "none"})`,
      );
    const aliases = s["aliases"] ?? [];
    if (!Array.isArray(aliases) || aliases.some((a) => typeof a !== "string" || a === ""))
      throw bad(file, `${where}.aliases`, "must be a list of host names");
    svms.push({ name, cluster, svm: optStr(file, s, "svm", where) ?? name, aliases: aliases as string[] });
  });
  return { clusters, svms };
}
