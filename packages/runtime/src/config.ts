/**
 * The one configuration loader. Every setting comes from an environment variable with a default
 * that runs everything on one machine; a malformed value is an error naming the variable.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ErrorCodes, RvssError, type TimerConfig } from "@rvss/core";

export interface RvssConfig {
  /** Where `rvss up` keeps its state and its context file (RVSS_HOME, ~/.rvss by default). */
  home: string;
  natsUrl: string;
  /** Who this process is to NATS and how it proves it; every field empty: anonymous (refused by a secured server). */
  nats: NatsCredentials;
  /** How long a service keeps trying to reach NATS at start-up. */
  natsConnectTimeoutMs: number;
  /** TLS to NATS (PEM files); null for plaintext. A client certificate also authenticates (verify_and_map). */
  natsTls: NatsTls | null;
  /**
   * Whether a service creates or updates the streams, consumers and buckets at start (true) or only
   * binds to them, failing when one is missing (false). RVSS_PROVISION=auto, the default, provisions
   * only when this process is anonymous to NATS: a server with users gives that right to the
   * provisioner alone (`rvss provision`), a server without users to anyone.
   */
  provision: boolean;
  /** Replicas for streams and KV (1 on a single server, 3 on a cluster). */
  replicas: number;
  grpcAddr: string;
  /** How gRPC callers prove who they are, and the limits every request is held to. */
  grpc: GrpcSecurity;
  /** How a gRPC client (the CLI) proves who it is: PEM paths, a token, or plaintext with RVSS_AUTH=off. */
  clientAuth: { ca?: string; cert?: string; key?: string; token?: string; insecure?: boolean };
  /** host:port of the plaintext gRPC health service (probes); null disables it. */
  grpcHealthAddr: string | null;
  /** host:port of the HTTP health and metrics endpoint; null disables it. */
  healthAddr: string | null;
  logLevel: string;
  logFormat: "json" | "pretty";
  /**
   * The backend of SVMs whose filer description names none: "local" (real files) or "ontap" (REST);
   * "null" for benchmarks of the orchestration alone.
   */
  storage: "local" | "ontap" | "null";
  /** Delays added to each storage operation (benchmarks); null for none. */
  storageLatency: StorageLatency | null;
  /** How many managed sets may run at once across all SVMs. */
  maxConcurrentSets: number;
  /** Directories restores may write under (absolute, normalised); none: restores go into shares only. */
  restoreRoots: string[];
  /** The local backend's filer description (JSON). */
  filerConfig: string;
  timers: TimerConfig;
  ackWaitMs: number;
  maxDeliver: number;
  duplicateWindowMs: number;
  eventsMaxAgeMs: number;
  /** Messages a replica handles at once, per consumer. */
  concurrency: number;
  /** How often the coordinator's reconciler runs (0: only at start). */
  reconcileIntervalMs: number;
  /** How often the coordinator's retention collector runs (0: only at start). */
  collectorIntervalMs: number;
  /** How old a missed schedule tick may be and still fire once at start. */
  scheduleCatchUpMs: number;
  /** A set fails before cloning when a volume already holds this many snapshots. */
  maxSnapshotsPerVolume: number;
  writers: WriterTimeouts;
}

export interface NatsTls {
  caFile: string;
  certFile?: string;
  keyFile?: string;
}

/** File paths (re-read at every reconnect, so rotation needs no restart) and the inbox prefix. */
export interface NatsCredentials {
  user: string;
  passwordFile: string;
  tokenFile: string;
  nkeySeedFile: string;
  credsFile: string;
  /** Where this identity's replies arrive; empty: `_INBOX_<service>`. */
  inboxPrefix: string;
}

/**
 * gRPC security. With `auth` "required" (the default) the API listens with mutual TLS only and every
 * call needs a role from the policy file; "off" is plaintext with every caller an admin, for
 * experiments only (the coordinator warns at start).
 */
export interface GrpcSecurity {
  auth: "required" | "off";
  /** PEM paths of the server's certificate, its key, and the CA client certificates must chain to. */
  tlsCert: string;
  tlsKey: string;
  clientCa: string;
  /** How often the certificate files are re-read (rotation without a restart). */
  tlsRefreshMs: number;
  /** The policy file: principals and their roles. */
  policyFile: string;
  /** host:port of the listener that takes bearer tokens (server-side TLS only); null: none. */
  tokenAddr: string | null;
  /** The tokens file: token name to SHA-256 (hex) of the token. */
  tokensFile: string;
  maxReceiveBytes: number;
  maxSharesPerRequest: number;
  maxFilesPerRequest: number;
  /** CreateBackup calls one coordinator replica handles at once; more are refused. */
  maxConcurrentCreates: number;
}

/** Milliseconds added per storage operation; jitter (0..1) varies each by up to that fraction. */
export interface StorageLatency {
  resolve: number;
  clone: number;
  expose: number;
  seal: number;
  snapshot: number;
  cleanup: number;
  restore: number;
  jitter: number;
}

/** Modelled on ONTAP: resolve 5 ms, clone 50 ms per share, expose 20, seal 20, snapshot 300 per volume, cleanup 50, restore 50. */
export const ONTAP_LATENCY: StorageLatency = {
  resolve: 5,
  clone: 50,
  expose: 20,
  seal: 20,
  snapshot: 300,
  cleanup: 50,
  restore: 50,
  jitter: 0,
};

/** How long the notifier waits for application writers, per step (ms). */
export interface WriterTimeouts {
  checkpointMs: number;
  /** How long a writer stays frozen at most; it thaws by itself when this ends. */
  freezeWindowMs: number;
  thawMs: number;
  autoRecoverMs: number;
  finishMs: number;
  /** A registration without a heartbeat for this long is forgotten. */
  ttlMs: number;
}

interface Variable {
  name: string;
  default: string;
  description: string;
}

/** Every variable rvss reads, with its default; the README's configuration table lists the same. */
export const CONFIG_VARIABLES: readonly Variable[] = [
  {
    name: "RVSS_HOME",
    default: "~/.rvss",
    description: "rvss up: its NATS store, sample filer and context file (read by the CLI when a variable is unset)",
  },
  { name: "NATS_URL", default: "nats://127.0.0.1:4222", description: "NATS server(s), comma-separated" },
  { name: "RVSS_NATS_USER", default: "", description: "NATS user name (with RVSS_NATS_PASSWORD_FILE)" },
  { name: "RVSS_NATS_PASSWORD_FILE", default: "", description: "file holding the NATS user's password" },
  { name: "RVSS_NATS_TOKEN_FILE", default: "", description: "file holding a NATS token" },
  { name: "RVSS_NATS_NKEY_SEED_FILE", default: "", description: "file holding an nkey seed (SU...)" },
  { name: "RVSS_NATS_CREDS", default: "", description: "a NATS .creds file (user JWT and nkey seed)" },
  {
    name: "RVSS_NATS_INBOX_PREFIX",
    default: "",
    description:
      "inbox prefix of this identity's replies (default _INBOX_<service>); its NATS user may read only these",
  },
  {
    name: "RVSS_NATS_CONNECT_TIMEOUT_MS",
    default: "10000",
    description: "how long a service keeps trying to reach NATS at start-up",
  },
  {
    name: "RVSS_NATS_CA",
    default: "",
    description: "PEM file of the CA that signed the NATS servers' certificates (TLS on)",
  },
  {
    name: "RVSS_NATS_CERT",
    default: "",
    description: "PEM client certificate for NATS (with RVSS_NATS_KEY): mutual TLS, the identity NATS maps to a user",
  },
  { name: "RVSS_NATS_KEY", default: "", description: "PEM private key of RVSS_NATS_CERT" },
  {
    name: "RVSS_PROVISION",
    default: "auto",
    description:
      "services: true creates or updates streams, consumers and buckets at start, false only binds to them (rvss provision makes them); auto: true when the process has no NATS credentials",
  },
  { name: "RVSS_REPLICAS", default: "1", description: "replicas of streams and KV buckets (3 on a cluster)" },
  {
    name: "RVSS_GRPC_ADDR",
    default: "127.0.0.1:50051",
    description: "coordinator gRPC listen address; the CLI's target",
  },
  {
    name: "RVSS_AUTH",
    default: "required",
    description:
      "required: mTLS (or a bearer token) and a role for every gRPC call; off: plaintext, anyone is admin, and rvss demo/up's nats-server has no users",
  },
  { name: "RVSS_GRPC_TLS_CERT", default: "", description: "coordinator: PEM certificate of the gRPC server" },
  { name: "RVSS_GRPC_TLS_KEY", default: "", description: "coordinator: PEM private key of the gRPC server" },
  {
    name: "RVSS_GRPC_CLIENT_CA",
    default: "",
    description: "coordinator: PEM CA bundle client certificates must chain to (old and new CA while rotating)",
  },
  {
    name: "RVSS_GRPC_TLS_REFRESH_MS",
    default: "60000",
    description: "coordinator: how often the gRPC certificate, key and CA files are re-read",
  },
  {
    name: "RVSS_AUTHZ_POLICY",
    default: "",
    description: 'coordinator: JSON file {"principals": {"<URI SAN or token:<name>>": ["<role>", ...]}}',
  },
  {
    name: "RVSS_GRPC_TOKEN_ADDR",
    default: "",
    description: "coordinator: host:port of a TLS listener taking bearer tokens instead of client certificates",
  },
  {
    name: "RVSS_GRPC_TOKENS_FILE",
    default: "",
    description: 'coordinator: JSON file {"<name>": "<sha256 hex of the token>"} for the token listener',
  },
  { name: "RVSS_CA", default: "", description: "CLI: PEM CA of the coordinator's certificate (system CAs when empty)" },
  { name: "RVSS_CERT", default: "", description: "CLI: PEM client certificate (its URI SAN is who calls)" },
  { name: "RVSS_KEY", default: "", description: "CLI: PEM key of the client certificate" },
  { name: "RVSS_TOKEN", default: "", description: "CLI: a bearer token, for the coordinator's token listener" },
  {
    name: "RVSS_HEALTH_GRPC_ADDR",
    default: "",
    description: "coordinator: host:port of a plaintext gRPC health service for probes (off when empty)",
  },
  { name: "RVSS_GRPC_MAX_RECV_BYTES", default: "1048576", description: "largest gRPC request accepted" },
  { name: "RVSS_MAX_SHARES_PER_REQUEST", default: "10000", description: "most shares one request may name" },
  {
    name: "RVSS_MAX_FILES_PER_REQUEST",
    default: "10000",
    description: "most files (and VMs) one request may name, over all its shares",
  },
  {
    name: "RVSS_MAX_CONCURRENT_CREATES",
    default: "16",
    description: "CreateBackup calls one coordinator handles at once; more are refused (RESOURCE_EXHAUSTED)",
  },
  {
    name: "RVSS_HEALTH_ADDR",
    default: "",
    description: "host:port for /healthz, /readyz and /metrics (off when empty)",
  },
  { name: "RVSS_LOG_LEVEL", default: "info", description: "pino level: trace, debug, info, warn, error" },
  { name: "RVSS_LOG_FORMAT", default: "json", description: "json, or pretty for people" },
  {
    name: "RVSS_STORAGE",
    default: "local",
    description:
      "storage backend of SVMs whose filer description names none: local, ontap, or null (benchmarks only: does nothing)",
  },
  {
    name: "RVSS_STORAGE_LATENCY",
    default: "",
    description:
      'benchmarks: delays per storage operation, "ontap" and/or op=ms pairs (resolve, clone, expose, seal, snapshot, cleanup, restore, jitter)',
  },
  {
    name: "RVSS_MAX_CONCURRENT_SETS",
    default: "64",
    description: "managed sets running at once across all SVMs (the planner's global limit)",
  },
  {
    name: "RVSS_RESTORE_ROOTS",
    default: "",
    description: "directories restores may write under, colon-separated (none: only restores into shares)",
  },
  { name: "RVSS_FILER_CONFIG", default: "./filer.json", description: "local backend: the filer description file" },
  {
    name: "RVSS_FSRVP_SHORT_TIMEOUT_MS",
    default: "180000",
    description: "FSRVP message sequence timer, short value (0 disables)",
  },
  {
    name: "RVSS_FSRVP_LONG_TIMEOUT_MS",
    default: "1800000",
    description: "FSRVP message sequence timer after Add/Prepare/GetShareMapping (0 disables)",
  },
  { name: "RVSS_ACK_WAIT_MS", default: "30000", description: "JetStream ack wait for commands before redelivery" },
  { name: "RVSS_MAX_DELIVER", default: "5", description: "deliveries of a failing command before it is dead-lettered" },
  {
    name: "RVSS_DUPLICATE_WINDOW_MS",
    default: "600000",
    description: "JetStream duplicate window (message-ID deduplication)",
  },
  { name: "RVSS_EVENTS_MAX_AGE_MS", default: "2592000000", description: "how long events stay replayable (30 days)" },
  { name: "RVSS_CONCURRENCY", default: "16", description: "messages a replica handles at once, per consumer" },
  {
    name: "RVSS_RECONCILE_INTERVAL_MS",
    default: "60000",
    description: "how often the coordinator sweeps in-flight work and removes orphaned storage (0: only at start)",
  },
  {
    name: "RVSS_COLLECTOR_INTERVAL_MS",
    default: "3600000",
    description: "how often the coordinator deletes backups past their ttl or keep-last (0: only at start)",
  },
  {
    name: "RVSS_SCHEDULE_CATCH_UP_MS",
    default: "3600000",
    description: "a schedule tick missed while no coordinator ran fires once at start when at most this old",
  },
  {
    name: "RVSS_MAX_SNAPSHOTS_PER_VOLUME",
    default: "1000",
    description:
      "a set fails before cloning when one of its volumes holds this many snapshots (ONTAP: 1023, older 255)",
  },
  {
    name: "RVSS_WRITER_CHECKPOINT_TIMEOUT_MS",
    default: "5000",
    description: "how long a writer may take to checkpoint",
  },
  {
    name: "RVSS_WRITER_FREEZE_WINDOW_MS",
    default: "7000",
    description: "longest a writer stays quiesced (like ONTAP's 7 s write fence)",
  },
  { name: "RVSS_WRITER_THAW_TIMEOUT_MS", default: "5000", description: "how long a writer may take to resume" },
  {
    name: "RVSS_WRITER_AUTO_RECOVER_TIMEOUT_MS",
    default: "60000",
    description: "how long a writer may take to auto-recover its files",
  },
  {
    name: "RVSS_WRITER_FINISH_TIMEOUT_MS",
    default: "5000",
    description: "how long a writer may take to acknowledge the end of a set",
  },
  {
    name: "RVSS_WRITER_TTL_MS",
    default: "15000",
    description: "a writer registration without a heartbeat for this long is forgotten",
  },
];

export type Env = Record<string, string | undefined>;

function raw(env: Env, name: string): string {
  const v = env[name];
  if (v !== undefined && v !== "") return v;
  return CONFIG_VARIABLES.find((x) => x.name === name)!.default;
}

/** "~" and "~/x" are the user's home directory. */
function homePath(v: string): string {
  return path.resolve(v === "~" ? os.homedir() : v.startsWith("~/") ? path.join(os.homedir(), v.slice(2)) : v);
}

function integer(env: Env, name: string, min: number): number {
  const v = raw(env, name);
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `${name}="${v}" is not an integer >= ${min}`, { variable: name });
  }
  return n;
}

function address(env: Env, name: string): string {
  const v = raw(env, name);
  if (!/^[^\s:]+:\d{1,5}$/.test(v)) {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `${name}="${v}" is not host:port`, { variable: name });
  }
  return v;
}

/** "ontap", "ontap,snapshot=100", or "clone=10,seal=5": a preset, then op=ms overrides (others 0). */
function latency(v: string): StorageLatency | null {
  if (v === "") return null;
  const out: StorageLatency = {
    resolve: 0,
    clone: 0,
    expose: 0,
    seal: 0,
    snapshot: 0,
    cleanup: 0,
    restore: 0,
    jitter: 0,
  };
  for (const part of v.split(",").map((p) => p.trim())) {
    if (part === "ontap") {
      Object.assign(out, ONTAP_LATENCY);
      continue;
    }
    const [k, n] = part.split("=");
    const ms = Number(n);
    if (!k || !(k in out) || n === undefined || !Number.isFinite(ms) || ms < 0) {
      throw new RvssError(
        ErrorCodes.CONFIG_INVALID,
        `RVSS_STORAGE_LATENCY part "${part}" is not ontap or op=ms (ops: ${Object.keys(out).join(", ")})`,
        {
          variable: "RVSS_STORAGE_LATENCY",
        },
      );
    }
    out[k as keyof StorageLatency] = ms;
  }
  return out;
}

function pemFile(env: Env, name: string): string | undefined {
  const v = raw(env, name);
  if (v === "") return undefined;
  try {
    fs.accessSync(v, fs.constants.R_OK);
  } catch (err) {
    throw new RvssError(
      ErrorCodes.CONFIG_INVALID,
      `${name}="${v}" cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      { variable: name },
    );
  }
  return v;
}

function natsTls(env: Env): NatsTls | null {
  const [caFile, certFile, keyFile] = ["RVSS_NATS_CA", "RVSS_NATS_CERT", "RVSS_NATS_KEY"].map((n) => pemFile(env, n));
  if (!certFile !== !keyFile) {
    const missing = certFile ? "RVSS_NATS_KEY" : "RVSS_NATS_CERT";
    throw new RvssError(
      ErrorCodes.CONFIG_INVALID,
      `a NATS client certificate needs both RVSS_NATS_CERT and RVSS_NATS_KEY; ${missing} is not set`,
      {
        variable: missing,
      },
    );
  }
  if (!caFile) {
    if (certFile) {
      throw new RvssError(
        ErrorCodes.CONFIG_INVALID,
        "RVSS_NATS_CERT is set but RVSS_NATS_CA is not: name the CA that signed the NATS servers' certificates",
        {
          variable: "RVSS_NATS_CA",
        },
      );
    }
    return null;
  }
  return { caFile, ...(certFile ? { certFile, keyFile: keyFile! } : {}) };
}

/**
 * The configuration of `env`; a variable `env` leaves unset or empty takes its value from `fallback`
 * (the CLI's context file), then from the table's default.
 */
export function loadConfig(env: Env = process.env, fallback: Env = {}): RvssConfig {
  if (Object.keys(fallback).length > 0) {
    const set = Object.entries(env).filter(([, v]) => v !== undefined && v !== "");
    env = { ...fallback, ...Object.fromEntries(set) };
  }
  const logFormat = raw(env, "RVSS_LOG_FORMAT");
  if (logFormat !== "json" && logFormat !== "pretty") {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `RVSS_LOG_FORMAT="${logFormat}" must be json or pretty`, {
      variable: "RVSS_LOG_FORMAT",
    });
  }
  const storage = raw(env, "RVSS_STORAGE");
  if (storage !== "local" && storage !== "ontap" && storage !== "null") {
    throw new RvssError(
      ErrorCodes.CONFIG_INVALID,
      `RVSS_STORAGE="${storage}" is not a known backend (known: local, ontap, null)`,
      { variable: "RVSS_STORAGE" },
    );
  }
  const natsUrl = raw(env, "NATS_URL");
  for (const u of natsUrl.split(",")) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s]+$/.test(u.trim()) && !/^[^\s/:]+:\d+$/.test(u.trim())) {
      throw new RvssError(ErrorCodes.CONFIG_INVALID, `NATS_URL entry "${u}" is not a nats:// URL`, {
        variable: "NATS_URL",
      });
    }
  }
  const auth = raw(env, "RVSS_AUTH");
  if (auth !== "required" && auth !== "off") {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `RVSS_AUTH="${auth}" must be required or off`, {
      variable: "RVSS_AUTH",
    });
  }
  const file = (name: string): string => (raw(env, name) === "" ? "" : path.resolve(raw(env, name)));
  const tls = natsTls(env);
  const nats: NatsCredentials = {
    user: raw(env, "RVSS_NATS_USER"),
    passwordFile: file("RVSS_NATS_PASSWORD_FILE"),
    tokenFile: file("RVSS_NATS_TOKEN_FILE"),
    nkeySeedFile: file("RVSS_NATS_NKEY_SEED_FILE"),
    credsFile: file("RVSS_NATS_CREDS"),
    inboxPrefix: raw(env, "RVSS_NATS_INBOX_PREFIX"),
  };
  const provision = raw(env, "RVSS_PROVISION");
  if (provision !== "auto" && provision !== "true" && provision !== "false") {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `RVSS_PROVISION="${provision}" must be auto, true or false`, {
      variable: "RVSS_PROVISION",
    });
  }
  const anonymous = !nats.user && !nats.tokenFile && !nats.nkeySeedFile && !nats.credsFile && !tls?.certFile;
  return {
    home: homePath(raw(env, "RVSS_HOME")),
    natsUrl,
    nats,
    natsConnectTimeoutMs: integer(env, "RVSS_NATS_CONNECT_TIMEOUT_MS", 100),
    natsTls: tls,
    provision: provision === "auto" ? anonymous : provision === "true",
    replicas: integer(env, "RVSS_REPLICAS", 1),
    grpcAddr: address(env, "RVSS_GRPC_ADDR"),
    grpc: {
      auth,
      tlsCert: file("RVSS_GRPC_TLS_CERT"),
      tlsKey: file("RVSS_GRPC_TLS_KEY"),
      clientCa: file("RVSS_GRPC_CLIENT_CA"),
      tlsRefreshMs: integer(env, "RVSS_GRPC_TLS_REFRESH_MS", 100),
      policyFile: file("RVSS_AUTHZ_POLICY"),
      tokenAddr: raw(env, "RVSS_GRPC_TOKEN_ADDR") === "" ? null : address(env, "RVSS_GRPC_TOKEN_ADDR"),
      tokensFile: file("RVSS_GRPC_TOKENS_FILE"),
      maxReceiveBytes: integer(env, "RVSS_GRPC_MAX_RECV_BYTES", 1024),
      maxSharesPerRequest: integer(env, "RVSS_MAX_SHARES_PER_REQUEST", 1),
      maxFilesPerRequest: integer(env, "RVSS_MAX_FILES_PER_REQUEST", 1),
      maxConcurrentCreates: integer(env, "RVSS_MAX_CONCURRENT_CREATES", 1),
    },
    clientAuth:
      auth === "off"
        ? { insecure: true }
        : {
            ...(raw(env, "RVSS_CA") ? { ca: file("RVSS_CA") } : {}),
            ...(raw(env, "RVSS_CERT") ? { cert: file("RVSS_CERT") } : {}),
            ...(raw(env, "RVSS_KEY") ? { key: file("RVSS_KEY") } : {}),
            ...(raw(env, "RVSS_TOKEN") ? { token: raw(env, "RVSS_TOKEN") } : {}),
          },
    grpcHealthAddr: raw(env, "RVSS_HEALTH_GRPC_ADDR") === "" ? null : address(env, "RVSS_HEALTH_GRPC_ADDR"),
    healthAddr: raw(env, "RVSS_HEALTH_ADDR") === "" ? null : address(env, "RVSS_HEALTH_ADDR"),
    logLevel: raw(env, "RVSS_LOG_LEVEL"),
    logFormat,
    storage,
    storageLatency: latency(raw(env, "RVSS_STORAGE_LATENCY")),
    maxConcurrentSets: integer(env, "RVSS_MAX_CONCURRENT_SETS", 1),
    filerConfig: path.resolve(raw(env, "RVSS_FILER_CONFIG")),
    restoreRoots: raw(env, "RVSS_RESTORE_ROOTS")
      .split(":")
      .filter((r) => r !== "")
      .map((r) => path.resolve(r)),
    timers: {
      shortMs: integer(env, "RVSS_FSRVP_SHORT_TIMEOUT_MS", 0),
      longMs: integer(env, "RVSS_FSRVP_LONG_TIMEOUT_MS", 0),
    },
    ackWaitMs: integer(env, "RVSS_ACK_WAIT_MS", 1000),
    maxDeliver: integer(env, "RVSS_MAX_DELIVER", 1),
    duplicateWindowMs: integer(env, "RVSS_DUPLICATE_WINDOW_MS", 1000),
    eventsMaxAgeMs: integer(env, "RVSS_EVENTS_MAX_AGE_MS", 60_000),
    concurrency: integer(env, "RVSS_CONCURRENCY", 1),
    reconcileIntervalMs: integer(env, "RVSS_RECONCILE_INTERVAL_MS", 0),
    collectorIntervalMs: integer(env, "RVSS_COLLECTOR_INTERVAL_MS", 0),
    scheduleCatchUpMs: integer(env, "RVSS_SCHEDULE_CATCH_UP_MS", 1000),
    maxSnapshotsPerVolume: integer(env, "RVSS_MAX_SNAPSHOTS_PER_VOLUME", 1),
    writers: {
      checkpointMs: integer(env, "RVSS_WRITER_CHECKPOINT_TIMEOUT_MS", 1),
      freezeWindowMs: integer(env, "RVSS_WRITER_FREEZE_WINDOW_MS", 1),
      thawMs: integer(env, "RVSS_WRITER_THAW_TIMEOUT_MS", 1),
      autoRecoverMs: integer(env, "RVSS_WRITER_AUTO_RECOVER_TIMEOUT_MS", 1),
      finishMs: integer(env, "RVSS_WRITER_FINISH_TIMEOUT_MS", 1),
      ttlMs: integer(env, "RVSS_WRITER_TTL_MS", 1000),
    },
  };
}

/** The table's defaults alone, for libraries that need a default without reading the environment. */
export function defaultConfig(): RvssConfig {
  return loadConfig({});
}
