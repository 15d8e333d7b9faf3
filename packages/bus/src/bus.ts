/**
 * The one NATS wrapper: connects (binding to what exists, creating nothing), provisions every stream,
 * consumer and KV bucket idempotently when a service asks, publishes protobuf with a message ID (JetStream drops a repeat within the duplicate window) and
 * the correlation and trace headers.
 */
import { ErrorCodes, RvssError, errorMessage, inboxPrefixOf } from "@rvss/core";
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type PubAck,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import {
  connect,
  headers as natsHeaders,
  nanos,
  type ConnectionOptions,
  type MsgHdrs,
  type NatsConnection,
} from "@nats-io/transport-node";
import { defaultConfig, type Logger, type NatsTls, type RvssConfig } from "@rvss/runtime";
import { watchConnection, type ConnectionWatch } from "./connection";
import { natsConnectOptions } from "./credentials";
import { StateStore } from "./state-store";
import {
  COMMAND_STREAMS,
  COORDINATOR_EVENTS_CONSUMER,
  COORDINATOR_TIMERS_CONSUMER,
  DLQ_STREAM,
  AUDIT_STREAM,
  AUDIT_SUBJECTS,
  DLQ_SUBJECTS,
  EVENTS_STREAM,
  TIMER_SUBJECTS,
  commandSubjects,
  EVENT_SUBJECTS,
  PHASE_CONSUMERS,
  STATE_BUCKET,
  TIMERS_STREAM,
  WRITERS_BUCKET,
  type Phase,
} from "@rvss/core";
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
   * a read-only client stays read-only; services call `provision()` next. Fails with
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

  /** Creates or updates every KV bucket, stream and durable consumer; safe to run from every replica at once. */
  async provision(): Promise<void> {
    const { replicas } = this.opts;
    const bucket = { history: 1, replicas, storage: StorageType.File, allow_direct: directGets(replicas) };
    await new Kvm(this.js).create(STATE_BUCKET, bucket);
    await new Kvm(this.js).create(WRITERS_BUCKET, { ...bucket, ttl: this.opts.writerTtlMs });
    const dup = nanos(this.opts.duplicateWindowMs);
    const base = { storage: StorageType.File, num_replicas: replicas, duplicate_window: dup };
    await this.ensureStream({
      ...base,
      name: EVENTS_STREAM,
      subjects: EVENT_SUBJECTS,
      retention: RetentionPolicy.Limits,
      max_age: nanos(this.opts.eventsMaxAgeMs),
    });
    for (const phase of Object.keys(COMMAND_STREAMS) as Phase[]) {
      await this.ensureStream({
        ...base,
        name: COMMAND_STREAMS[phase],
        subjects: commandSubjects(phase),
        retention: RetentionPolicy.Workqueue,
      });
      await this.ensureConsumer(COMMAND_STREAMS[phase], this.workConsumer(PHASE_CONSUMERS[phase]));
    }
    await this.ensureStream({
      ...base,
      name: TIMERS_STREAM,
      subjects: TIMER_SUBJECTS,
      retention: RetentionPolicy.Workqueue,
    });
    await this.ensureStream({
      ...base,
      name: DLQ_STREAM,
      subjects: DLQ_SUBJECTS,
      retention: RetentionPolicy.Limits,
    });
    await this.ensureStream({
      ...base,
      name: AUDIT_STREAM,
      subjects: AUDIT_SUBJECTS,
      retention: RetentionPolicy.Limits,
      max_age: nanos(this.opts.eventsMaxAgeMs),
      // The record of who did what must outlive anyone who would rather it did not.
      deny_delete: true,
      deny_purge: true,
    });
    await this.ensureConsumer(EVENTS_STREAM, this.workConsumer(COORDINATOR_EVENTS_CONSUMER));
    await this.ensureConsumer(TIMERS_STREAM, this.workConsumer(COORDINATOR_TIMERS_CONSUMER));
  }

  private workConsumer(name: string): Partial<ConsumerConfig> & { durable_name: string } {
    return {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.opts.ackWaitMs),
      // Unlimited at the server: the worker dead-letters a message itself after its own limit, so
      // nothing is ever left undeliverable in a work queue.
      max_deliver: -1,
      max_ack_pending: 1000,
      num_replicas: this.opts.replicas,
    };
  }

  private async ensureStream(cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
    try {
      const info = await this.jsm.streams.info(cfg.name);
      const c = info.config;
      const differs =
        JSON.stringify(c.subjects) !== JSON.stringify(cfg.subjects) ||
        c.duplicate_window !== cfg.duplicate_window ||
        (cfg.max_age !== undefined && c.max_age !== cfg.max_age);
      if (differs) {
        await this.jsm.streams.update(cfg.name, {
          subjects: cfg.subjects,
          duplicate_window: cfg.duplicate_window,
          ...(cfg.max_age !== undefined ? { max_age: cfg.max_age } : {}),
        });
      }
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      await this.jsm.streams.add(cfg);
    }
  }

  private async ensureConsumer(stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
    try {
      const info = await this.jsm.consumers.info(stream, cfg.durable_name);
      if (info.config.ack_wait !== cfg.ack_wait || info.config.max_deliver !== cfg.max_deliver) {
        await this.jsm.consumers.update(stream, cfg.durable_name, {
          ack_wait: cfg.ack_wait!,
          max_deliver: cfg.max_deliver!,
        });
      }
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
      await this.jsm.consumers.add(stream, cfg);
    }
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

/** Direct gets may be answered by a lagging replica; replicated state is read from the leader. */
function directGets(replicas: number): boolean {
  return replicas === 1;
}

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

/** Connects to the NATS server a configuration names; services call `provision()` next, clients do not. */
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
