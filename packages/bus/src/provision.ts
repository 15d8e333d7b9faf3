/**
 * What rvss needs on NATS: every stream, durable consumer and KV bucket, with the settings of one
 * configuration. Provisioning creates what is missing and updates what differs (the provisioner's
 * job: `rvss provision`, the Helm chart's Job, demo and `rvss up`); binding only finds out, for a
 * service whose NATS identity may not change streams.
 */
import { ErrorCodes, RvssError, errorMessage } from "@rvss/core";
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/transport-node";
import {
  AUDIT_STREAM,
  AUDIT_SUBJECTS,
  COMMAND_STREAMS,
  COORDINATOR_EVENTS_CONSUMER,
  COORDINATOR_TIMERS_CONSUMER,
  DLQ_STREAM,
  DLQ_SUBJECTS,
  EVENTS_STREAM,
  EVENT_SUBJECTS,
  PHASE_CONSUMERS,
  STATE_BUCKET,
  TIMERS_STREAM,
  TIMER_SUBJECTS,
  WRITERS_BUCKET,
  commandSubjects,
  type Phase,
} from "@rvss/core";

export type ResourceKind = "stream" | "consumer" | "bucket";

/** What provisioning did to one resource. */
export interface Provisioned {
  kind: ResourceKind;
  /** A stream's or bucket's name; a consumer's is `<stream>/<durable>`. */
  name: string;
  result: "created" | "updated" | "unchanged";
  /** The settings an update changed. */
  changed: string[];
}

/** The settings of the configuration that shape the resources. */
export interface TopologySettings {
  replicas: number;
  ackWaitMs: number;
  duplicateWindowMs: number;
  eventsMaxAgeMs: number;
  writerTtlMs: number;
}

interface Resource {
  kind: ResourceKind;
  name: string;
  details: Record<string, string>;
  /** The settings that differ from what the server holds; null when the server has none of it. */
  compare(jsm: JetStreamManager): Promise<string[] | null>;
  create(jsm: JetStreamManager, js: JetStreamClient): Promise<unknown>;
  update(jsm: JetStreamManager, changed: string[]): Promise<unknown>;
}

/** Direct gets may be answered by a lagging replica; replicated state is read from the leader. */
export function directGets(replicas: number): boolean {
  return replicas === 1;
}

/** Every resource rvss uses, streams before their consumers. */
export function topology(s: TopologySettings): Resource[] {
  const dup = nanos(s.duplicateWindowMs);
  const base = { storage: StorageType.File, num_replicas: s.replicas, duplicate_window: dup };
  const work = (durable: string): WorkConsumer => ({
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(s.ackWaitMs),
    // Unlimited at the server: the worker dead-letters a message itself after its own limit, so
    // nothing is ever left undeliverable in a work queue.
    max_deliver: -1,
    max_ack_pending: 1000,
    num_replicas: s.replicas,
  });
  const phases = Object.keys(COMMAND_STREAMS) as Phase[];
  const bucketOpts = {
    history: 1,
    replicas: s.replicas,
    storage: StorageType.File,
    allow_direct: directGets(s.replicas),
  };
  return [
    stream({
      ...base,
      name: EVENTS_STREAM,
      subjects: EVENT_SUBJECTS,
      retention: RetentionPolicy.Limits,
      max_age: nanos(s.eventsMaxAgeMs),
    }),
    ...phases.map((p) =>
      stream({ ...base, name: COMMAND_STREAMS[p], subjects: commandSubjects(p), retention: RetentionPolicy.Workqueue }),
    ),
    stream({ ...base, name: TIMERS_STREAM, subjects: TIMER_SUBJECTS, retention: RetentionPolicy.Workqueue }),
    stream({ ...base, name: DLQ_STREAM, subjects: DLQ_SUBJECTS, retention: RetentionPolicy.Limits }),
    stream({
      ...base,
      name: AUDIT_STREAM,
      subjects: AUDIT_SUBJECTS,
      retention: RetentionPolicy.Limits,
      max_age: nanos(s.eventsMaxAgeMs),
      // The record of who did what must outlive anyone who would rather it did not.
      deny_delete: true,
      deny_purge: true,
    }),
    ...phases.map((p) => consumer(COMMAND_STREAMS[p], work(PHASE_CONSUMERS[p]))),
    consumer(EVENTS_STREAM, work(COORDINATOR_EVENTS_CONSUMER)),
    consumer(TIMERS_STREAM, work(COORDINATOR_TIMERS_CONSUMER)),
    bucket(STATE_BUCKET, bucketOpts, 0),
    bucket(WRITERS_BUCKET, { ...bucketOpts, ttl: s.writerTtlMs }, nanos(s.writerTtlMs)),
  ];
}

type WorkConsumer = Partial<ConsumerConfig> & { durable_name: string; ack_wait: number; max_deliver: number };

/** The names of settings in `want` whose values `have` does not share. */
function differing<T extends object>(have: T, want: Partial<T>, keys: readonly (keyof T)[]): string[] {
  return keys.filter((k) => want[k] !== undefined && JSON.stringify(have[k]) !== JSON.stringify(want[k])) as string[];
}

function pick<T extends object>(from: T, keys: string[]): Partial<T> {
  return Object.fromEntries(keys.map((k) => [k, from[k as keyof T]])) as Partial<T>;
}

/** The value of `get`, or null when the server says it has no such thing (nor the stream it would be in). */
async function unlessMissing<T>(get: () => Promise<T>): Promise<T | null> {
  try {
    return await get();
  } catch (err) {
    const missing = [JetStreamApiCodes.StreamNotFound, JetStreamApiCodes.ConsumerNotFound] as number[];
    if (err instanceof JetStreamApiError && missing.includes(err.code)) return null;
    throw err;
  }
}

// What rvss changes on a resource that exists; the rest cannot change, or differs only by choice.
const STREAM_SETTINGS = ["subjects", "duplicate_window", "max_age"] as const;
const CONSUMER_SETTINGS = ["ack_wait", "max_deliver"] as const;
const BUCKET_SETTINGS = ["max_age", "max_msgs_per_subject"] as const;

function stream(cfg: Partial<StreamConfig> & { name: string }): Resource {
  return {
    kind: "stream",
    name: cfg.name,
    details: { stream: cfg.name },
    async compare(jsm) {
      const info = await unlessMissing(() => jsm.streams.info(cfg.name));
      return info && differing(info.config, cfg, STREAM_SETTINGS);
    },
    create: (jsm) => jsm.streams.add(cfg),
    update: (jsm, changed) => jsm.streams.update(cfg.name, pick(cfg, changed)),
  };
}

function consumer(streamName: string, cfg: WorkConsumer): Resource {
  return {
    kind: "consumer",
    name: `${streamName}/${cfg.durable_name}`,
    details: { stream: streamName, consumer: cfg.durable_name },
    async compare(jsm) {
      const info = await unlessMissing(() => jsm.consumers.info(streamName, cfg.durable_name));
      return info && differing(info.config, cfg, CONSUMER_SETTINGS);
    },
    create: (jsm) => jsm.consumers.add(streamName, cfg),
    update: (jsm, changed) => jsm.consumers.update(streamName, cfg.durable_name, pick(cfg, changed)),
  };
}

/** A KV bucket: its stream KV_<name>, made by the KV client with `opts`; `maxAge` is what its ttl makes. */
function bucket(name: string, opts: Parameters<Kvm["create"]>[1], maxAge: number): Resource {
  const streamName = `KV_${name}`;
  const want = { max_age: maxAge, max_msgs_per_subject: opts?.history ?? 1 };
  return {
    kind: "bucket",
    name,
    details: { bucket: name, stream: streamName },
    async compare(jsm) {
      const info = await unlessMissing(() => jsm.streams.info(streamName));
      return info && differing(info.config, want, BUCKET_SETTINGS);
    },
    create: (_jsm, js) => new Kvm(js).create(name, opts),
    update: (jsm, changed) => jsm.streams.update(streamName, pick(want, changed)),
  };
}

/** A server's refusal as an RvssError naming the resource, the step and what NATS said. */
function failure(err: unknown, step: string, r: Resource, where: string): RvssError {
  const said = errorMessage(err);
  const what = `${step} ${r.kind} ${r.name}`;
  if (/permissions violation/i.test(said))
    return new RvssError(
      ErrorCodes.PERMISSION_DENIED,
      `NATS at ${where} refused to ${what}: ${said} (rvss's streams are the provisioner's to change: run rvss provision as the NATS user provisioner)`,
      { natsUrl: where, ...r.details },
      { cause: err },
    );
  return new RvssError(
    err instanceof JetStreamApiError ? ErrorCodes.FAILED_PRECONDITION : ErrorCodes.NATS_UNAVAILABLE,
    `cannot ${what} on NATS at ${where}: ${said}`,
    { natsUrl: where, ...r.details },
    { cause: err },
  );
}

/** Creates what is missing and updates what differs, one resource at a time; safe to run from several processes at once. */
export async function provisionAll(
  jsm: JetStreamManager,
  js: JetStreamClient,
  resources: Resource[],
  where: string,
): Promise<Provisioned[]> {
  const out: Provisioned[] = [];
  for (const r of resources) {
    let step = "read";
    try {
      const changed = await r.compare(jsm);
      if (changed === null) {
        step = "create";
        await r.create(jsm, js);
        out.push({ kind: r.kind, name: r.name, result: "created", changed: [] });
      } else if (changed.length > 0) {
        step = "update";
        await r.update(jsm, changed);
        out.push({ kind: r.kind, name: r.name, result: "updated", changed });
      } else out.push({ kind: r.kind, name: r.name, result: "unchanged", changed: [] });
    } catch (err) {
      throw failure(err, step, r, where);
    }
  }
  return out;
}

/** What binding finds: resources the server lacks, and those whose settings differ from `resources`. */
export async function inspectAll(
  jsm: JetStreamManager,
  resources: Resource[],
  where: string,
): Promise<{ missing: Resource[]; differing: { resource: Resource; changed: string[] }[] }> {
  const missing: Resource[] = [];
  const differs: { resource: Resource; changed: string[] }[] = [];
  for (const r of resources) {
    const changed = await r.compare(jsm).catch((err: unknown) => {
      throw failure(err, "read", r, where);
    });
    if (changed === null) missing.push(r);
    else if (changed.length > 0) differs.push({ resource: r, changed });
  }
  return { missing, differing: differs };
}
