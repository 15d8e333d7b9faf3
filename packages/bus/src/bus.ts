/**
 * The one NATS wrapper: connects (binding to what exists, creating nothing), provisions every stream,
 * consumer and KV bucket idempotently when asked (provision.ts says which), publishes protobuf with
 * a message ID (JetStream drops a repeat within the duplicate window) and the correlation and trace
 * headers.
 */
import { ErrorCodes, RvssError, errorMessage, inboxPrefixOf, STATE_BUCKET } from "@rvss/core";
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import {
  connect,
  headers as natsHeaders,
  type ConnectionOptions,
  type MsgHdrs,
  type NatsConnection,
} from "@nats-io/transport-node";
import { defaultConfig, type Logger, type NatsTls, type RvssConfig } from "@rvss/runtime";
import { watchConnection, type ConnectionWatch } from "./connection";
import { natsConnectOptions } from "./credentials";
import { directGets, inspectAll, provisionAll, topology, type Provisioned } from "./provision";
import { StateStore } from "./state-store";
import { tracedPublish } from "./trace";

export const HEADER_CORRELATION = "Rvss-Correlation-Id";
export const HEADER_SOURCE = "Rvss-Source";

export interface BusOptions {
  servers: string;
  /** Connection name, shown by the server (e.g. "snapshot-executor"). */
  name: string;
  log: Logger;
  replicas?: number;
  ackWaitMs?: number;
  duplicateWindowMs?: number;
  eventsMaxAgeMs?: number;
  /** How long to keep trying the first connection; 0 for one attempt, so a refused port fails at once. */
  connectTimeoutMs?: number;
  /** TLS (CA, and a client certificate when NATS maps it to a user); none for plaintext. */
  tls?: NatsTls | null;
  /** How long a writer registration lives without a heartbeat. */
  writerTtlMs?: number;
  /** Credentials and inbox prefix (natsConnectOptions); none: anonymous, inbox `_INBOX_<name>`. */
  auth?: Partial<ConnectionOptions>;
}

export interface PublishOptions {
  msgId: string;
  correlationId?: string;
  extraHeaders?: Record<string, string>;
}

export class Bus {
  readonly state: StateStore;
  /** Whether NATS can be used now, and why not. */
  readonly connection: ConnectionWatch;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    state: StateStore,
    readonly opts: Required<Omit<BusOptions, "log">> & { log: Logger },
  ) {
    this.state = state;
    this.connection = watchConnection(nc, opts.servers);
  }

  /**
   * Connects and binds to the state buckets without creating or changing anything on the server, so
   * a read-only client stays read-only; services `provision()` or `bind()` next. Fails with
   * NATS_UNAVAILABLE, naming the server (never its credentials), when nothing answers within
   * connectTimeoutMs, and at once when the server refuses the connection.
   */
  static async connect(options: BusOptions): Promise<Bus> {
    const d = defaultConfig();
    const opts = {
      replicas: d.replicas,
      ackWaitMs: d.ackWaitMs,
      duplicateWindowMs: d.duplicateWindowMs,
      eventsMaxAgeMs: d.eventsMaxAgeMs,
      connectTimeoutMs: d.natsConnectTimeoutMs,
      writerTtlMs: d.writers.ttlMs,
      tls: d.natsTls as NatsTls | null,
      auth: {},
      ...options,
    };
    const servers = opts.servers.split(",").map((s) => s.trim());
    let nc: NatsConnection;
    try {
      nc = await connectWithin(servers, opts.name, opts.connectTimeoutMs, opts.tls, opts.auth);
    } catch (err) {
      const where = redactUrls(opts.servers);
      const refused = /authorization|authentication/i.test(errorMessage(err));
      throw new RvssError(
        ErrorCodes.NATS_UNAVAILABLE,
        refused
          ? `NATS at ${where} refused the connection: ${errorMessage(err)} (check the NATS credentials)`
          : `cannot reach NATS at ${where}: ${errorMessage(err)} (set NATS_URL, or start nats-server with JetStream: nats-server -js)`,
        { natsUrl: where },
        { cause: err },
      );
    }
    const version = nc.info?.version ?? "";
    if (opts.replicas > 1 && olderThan(version, [2, 9, 21])) {
      opts.log.warn(
        { natsServer: version },
        "this nats-server may accept two compare-and-set writes of one key at once on a cluster (nats-server#4320, fixed in 2.9.21): run one coordinator replica, or upgrade",
      );
    }
    const js = jetstream(nc, { timeout: 10_000 });
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    const kv = await new Kvm(js).open(STATE_BUCKET, { allow_direct: directGets(opts.replicas) });
    return new Bus(nc, js, jsm, new StateStore(kv, jsm, STATE_BUCKET), opts);
  }

  /**
   * Creates every stream, durable consumer and KV bucket that is missing and updates those whose
   * settings differ; safe to run from every replica at once. Refused, naming the resource, unless
   * this identity may change streams (the provisioner, or anyone on a server without users).
   */
  async provision(): Promise<Provisioned[]> {
    const done = await provisionAll(this.jsm, this.js, topology(this.opts), redactUrls(this.opts.servers));
    const changed = done.filter((d) => d.result !== "unchanged").map((d) => `${d.result} ${d.kind} ${d.name}`);
    if (changed.length > 0) this.opts.log.info({ provisioned: changed }, `provisioned NATS: ${changed.join(", ")}`);
    return done;
  }

  /**
   * Checks that every stream, durable consumer and KV bucket exists, changing nothing: what a service
   * does that may not provision. Fails naming what is missing and saying to run `rvss provision`;
   * settings that differ from this configuration are only logged, since the provisioner owns them.
   */
  async bind(): Promise<void> {
    const where = redactUrls(this.opts.servers);
    const found = await inspectAll(this.jsm, topology(this.opts), where);
    if (found.missing.length > 0)
      throw new RvssError(
        ErrorCodes.FAILED_PRECONDITION,
        `rvss is not provisioned on NATS at ${where}: no ${found.missing.map((r) => `${r.kind} ${r.name}`).join(", ")}. Run rvss provision as the NATS user provisioner first (the Helm chart's Job does), or let this service create them with RVSS_PROVISION=true`,
        { natsUrl: where, missing: found.missing.map((r) => r.name).join(",") },
      );
    for (const { resource: r, changed } of found.differing)
      this.opts.log.warn(
        { [r.kind]: r.name, differs: changed },
        `${r.kind} ${r.name} differs from this service's settings (${changed.join(", ")}); rvss provision updates it`,
      );
  }

  /** Publishes to JetStream and waits for the server's ack. A duplicate message ID is not stored again. */
  async publish(subject: string, data: Uint8Array, o: PublishOptions): Promise<PubAck> {
    const h = natsHeaders();
    h.set(HEADER_SOURCE, this.opts.name);
    if (o.correlationId) h.set(HEADER_CORRELATION, o.correlationId);
    for (const [k, v] of Object.entries(o.extraHeaders ?? {})) h.set(k, v);
    // An ack lost with a dying server would hold the publisher for the whole timeout; short attempts
    // sent again under the same message ID (so stored once) resume within seconds of a restart.
    return tracedPublish(subject, o.msgId, this.opts.name, h, () =>
      this.js.publish(subject, data, {
        msgID: o.msgId,
        headers: h,
        timeout: PUBLISH_ATTEMPT_MS,
        retries: PUBLISH_ATTEMPTS,
      }),
    );
  }

  /** True while connected to a server (not closed, not reconnecting). */
  connected(): boolean {
    return this.connection.unready() === null;
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

const PUBLISH_ATTEMPT_MS = 2_000;
const PUBLISH_ATTEMPTS = 10;
/** About the longest a publish keeps trying before it fails. */
export const PUBLISH_GIVE_UP_MS = PUBLISH_ATTEMPT_MS * PUBLISH_ATTEMPTS;

/** The server list with any user:password@ taken out, for messages and logs. */
export function redactUrls(servers: string): string {
  return servers.replace(/\/\/[^/@\s,]*@/g, "//");
}

/** True when a "major.minor.patch" version is older than `than`. */
function olderThan(version: string, than: number[]): boolean {
  const parts = version.split(/[.-]/).slice(0, 3).map(Number);
  for (let i = 0; i < than.length; i++) {
    if ((parts[i] ?? 0) !== than[i]) return (parts[i] ?? 0) < than[i]!;
  }
  return false;
}

async function connectWithin(
  servers: string[],
  name: string,
  timeoutMs: number,
  tls: NatsTls | null,
  auth: Partial<ConnectionOptions>,
): Promise<NatsConnection> {
  const started = Date.now();
  for (;;) {
    try {
      // Once connected, reconnect forever: a restarted server must not take a service down.
      // noAsyncTraces: building an Error for every request just in case it fails costs a tenth of the
      // coordinator's CPU under load; errors still carry their own message.
      return await connect({
        inboxPrefix: inboxPrefixOf(name),
        ...auth,
        servers,
        name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: timeoutMs === 0 ? 2_000 : Math.min(2_000, timeoutMs),
        noAsyncTraces: true,
        // A server that stops answering without closing the socket is noticed in about 30 s, not 4 min.
        pingInterval: 10_000,
        maxPingOut: 3,
        ...(tls ? { tls } : {}),
      });
    } catch (err) {
      if (Date.now() - started + 250 > timeoutMs || failsForGood(err)) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A refused login does not get better by trying again. */
function failsForGood(err: unknown): boolean {
  return /authorization|authentication/i.test(errorMessage(err));
}

export function headerValue(h: MsgHdrs | undefined, name: string): string | undefined {
  const v = h?.get(name);
  return v === undefined || v === "" ? undefined : v;
}

/**
 * Connects to the NATS server a configuration names, binding to nothing but the state bucket:
 * clients use it as it is, services through `connectService`.
 */
export function connectBus(config: RvssConfig, name: string, log: Logger): Promise<Bus> {
  return Bus.connect({
    servers: config.natsUrl,
    name,
    log,
    replicas: config.replicas,
    ackWaitMs: config.ackWaitMs,
    duplicateWindowMs: config.duplicateWindowMs,
    eventsMaxAgeMs: config.eventsMaxAgeMs,
    connectTimeoutMs: config.natsConnectTimeoutMs,
    tls: config.natsTls,
    writerTtlMs: config.writers.ttlMs,
    auth: natsConnectOptions(config.nats, name),
  });
}

/**
 * Connects a service: it provisions when its configuration says so (RVSS_PROVISION; by default
 * only when anonymous to NATS), and otherwise binds to what the provisioner made.
 */
export async function connectService(config: RvssConfig, name: string, log: Logger): Promise<Bus> {
  const bus = await connectBus(config, name, log);
  try {
    if (config.provision) await bus.provision();
    else await bus.bind();
  } catch (err) {
    await bus.close();
    throw err;
  }
  return bus;
}

/**
 * Connects with the configuration's NATS credentials (the provisioner's) and creates or updates
 * everything: `rvss provision`, and demo and `rvss up` before their services start.
 */
export async function provisionNats(config: RvssConfig, log: Logger): Promise<Provisioned[]> {
  const bus = await connectBus(config, "provisioner", log);
  try {
    return await bus.provision();
  } finally {
    await bus.close();
  }
}
