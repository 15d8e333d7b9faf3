/**
 * What each NATS identity may publish and subscribe, derived from the wire names (wire.ts) and the
 * table of steps: a phase's service may publish only the events its steps report and the failures
 * of its own steps, only the coordinator may publish commands, and no service may create, delete or
 * purge a stream or change its configuration (the provisioner does, `rvss provision`).
 * `natsAuthorization` renders the nats-server `authorization` block.
 *
 * nats-server facts these rest on (2.9): an empty allow list allows everything, so every identity
 * gets an explicit list; deny wins over allow; each identity has its own inbox prefix so it cannot
 * read others' replies.
 */
import { STEPS, PHASE_SERVICES, phaseOfService, type Phase, type StepKey, type StepSpec } from "./fsrvp/steps";
import { ErrorCodes, RvssError } from "./errors";
import { token } from "./naming";
import {
  COMMAND_STREAMS,
  COORDINATOR_EVENTS_CONSUMER,
  COORDINATOR_TIMERS_CONSUMER,
  DLQ_STREAM,
  AUDIT_STREAM,
  AUDIT_SUBJECTS,
  EVENTS_STREAM,
  EVENT_SUBJECTS,
  PHASE_CONSUMERS,
  TIMER_SUBJECTS,
  WRITER_SUBJECTS,
  STATE_BUCKET,
  TIMERS_STREAM,
  WRITERS_BUCKET,
  backupEventsOfType,
  commandSubjects,
  dlqSubject,
  setEventsOfType,
  stepFailedType,
  svmEventsSubject,
  systemEventsOfType,
  writerKey,
  writerKeys,
  writerSubjects,
  CHECK_SHARES_SUBJECT,
  STORAGE_INVENTORY_SUBJECT,
} from "./wire";

export const SERVICE_IDENTITIES = ["coordinator", ...Object.values(PHASE_SERVICES)] as const;
export type ServiceIdentity = (typeof SERVICE_IDENTITIES)[number];

/** Every identity rvss runs as: its services, the provisioner (the only one that changes streams) and the CLI's reader. */
export const NATS_IDENTITIES = ["provisioner", ...SERVICE_IDENTITIES, "viewer"] as const;
export type NatsIdentity = (typeof NATS_IDENTITIES)[number];

export interface NatsPermissions {
  publish: { allow: string[]; deny: string[] };
  subscribe: { allow: string[]; deny: string[] };
  /** May answer the reply subject of a request it received (queries, writer requests). */
  allowResponses: boolean;
}

/** The inbox prefix of an identity: its replies and JetStream acks arrive there and nowhere else. */
export function inboxPrefixOf(identity: string): string {
  return `_INBOX_${token(identity)}`;
}

const ALL_STREAMS = [EVENTS_STREAM, TIMERS_STREAM, DLQ_STREAM, AUDIT_STREAM, ...Object.values(COMMAND_STREAMS)];
const KV_STREAMS = [STATE_BUCKET, WRITERS_BUCKET].map((b) => `KV_${b}`);
const DURABLES: [string, string][] = [
  [EVENTS_STREAM, COORDINATOR_EVENTS_CONSUMER],
  [TIMERS_STREAM, COORDINATOR_TIMERS_CONSUMER],
  ...(Object.keys(COMMAND_STREAMS) as Phase[]).map((p): [string, string] => [COMMAND_STREAMS[p], PHASE_CONSUMERS[p]]),
];

/** What creates, changes or removes a stream, a durable or stored messages: the provisioner's alone. */
const ADMIN_VERBS = [
  "$JS.API.STREAM.CREATE.>",
  "$JS.API.STREAM.UPDATE.>",
  "$JS.API.STREAM.DELETE.>",
  "$JS.API.STREAM.PURGE.>",
  "$JS.API.STREAM.MSG.DELETE.>",
  "$JS.API.STREAM.SNAPSHOT.>",
  "$JS.API.STREAM.RESTORE.>",
  "$JS.API.STREAM.PEER.REMOVE.>",
  "$JS.API.STREAM.LEADER.STEPDOWN.>",
  "$JS.API.CONSUMER.DURABLE.CREATE.>",
  "$JS.API.META.>",
  "$JS.API.ACCOUNT.>",
];

/**
 * What a service does at start instead of provisioning (Bus.bind): reading the info of every
 * stream, bucket and durable the provisioner made.
 */
function bind(): string[] {
  return [
    "$JS.API.INFO",
    ...[...ALL_STREAMS, ...KV_STREAMS].map((s) => `$JS.API.STREAM.INFO.${s}`),
    ...DURABLES.map(([s, c]) => `$JS.API.CONSUMER.INFO.${s}.${c}`),
  ];
}

/** Pulling from one durable and acknowledging its messages. */
function pull(stream: string, consumer: string): string[] {
  return [`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, `$JS.ACK.${stream}.${consumer}.>`];
}

/** Reading a KV bucket: gets, key listing, and watches (ordered consumers). */
function readBucket(bucket: string): string[] {
  const s = `KV_${bucket}`;
  return [
    `$JS.API.DIRECT.GET.${s}.>`,
    `$JS.API.DIRECT.GET.${s}`,
    `$JS.API.STREAM.MSG.GET.${s}`,
    `$JS.API.CONSUMER.CREATE.${s}`,
    `$JS.API.CONSUMER.CREATE.${s}.>`,
    `$JS.API.CONSUMER.DELETE.${s}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${s}.>`,
    `$JS.FC.${s}.>`,
  ];
}

/** Reading a stream from anywhere: message gets and ordered consumers (watch, tail, replay). */
function readStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/**
 * The event types (subject types) a phase's service publishes: what its steps report (and later
 * about their results), a refusal and progress where a step has them, and the failures of its own
 * steps only (their subject type names the phase: wire.ts `stepFailedType`).
 */
export function phaseEventTypes(phase: Phase): string[] {
  const types = new Set<string>([stepFailedType(phase)]);
  for (const k of Object.keys(STEPS) as StepKey[]) {
    const step: StepSpec = STEPS[k];
    if (step.phase !== phase) continue;
    for (const r of [...step.reports, ...(step.later ?? [])]) types.add(r);
    if (step.rejection) types.add(step.rejection);
    if (step.progress) types.add("stepProgress");
  }
  return [...types];
}

function eventsOf(types: readonly string[]): string[] {
  return types.flatMap((t) => [setEventsOfType(t), backupEventsOfType(t), systemEventsOfType(t)]);
}

const QUERIES: Partial<Record<Phase, string>> = {
  discovery: CHECK_SHARES_SUBJECT,
  executor: STORAGE_INVENTORY_SUBJECT,
};

export function natsPermissions(identity: NatsIdentity): NatsPermissions {
  const inbox = `${inboxPrefixOf(identity)}.>`;
  if (identity === "provisioner")
    return {
      publish: { allow: ["$JS.API.>"], deny: [] },
      subscribe: { allow: [inbox], deny: [] },
      allowResponses: false,
    };
  const deny = ADMIN_VERBS;
  if (identity === "viewer")
    return {
      publish: {
        allow: [
          "$JS.API.INFO",
          `$JS.API.STREAM.INFO.${EVENTS_STREAM}`,
          `$JS.API.STREAM.INFO.${DLQ_STREAM}`,
          ...readStream(EVENTS_STREAM),
          ...readStream(DLQ_STREAM),
        ],
        deny,
      },
      // `rvss restore` follows the executor's progress as it is published.
      subscribe: { allow: [inbox, backupEventsOfType("stepProgress")], deny: [] },
      allowResponses: false,
    };
  if (identity === "coordinator")
    return {
      publish: {
        allow: [
          ...bind(),
          ...(Object.keys(COMMAND_STREAMS) as Phase[]).flatMap(commandSubjects),
          ...EVENT_SUBJECTS,
          ...TIMER_SUBJECTS,
          ...AUDIT_SUBJECTS,
          dlqSubject(EVENTS_STREAM, COORDINATOR_EVENTS_CONSUMER),
          dlqSubject(TIMERS_STREAM, COORDINATOR_TIMERS_CONSUMER),
          ...Object.values(QUERIES),
          `$KV.${STATE_BUCKET}.>`,
          ...readBucket(STATE_BUCKET),
          ...readBucket(WRITERS_BUCKET),
          ...pull(EVENTS_STREAM, COORDINATOR_EVENTS_CONSUMER),
          ...pull(TIMERS_STREAM, COORDINATOR_TIMERS_CONSUMER),
          ...ALL_STREAMS.flatMap(readStream),
        ],
        deny,
      },
      // The agent API's calls wait for their set's events as they are published.
      subscribe: { allow: [inbox, setEventsOfType("*")], deny: [] },
      allowResponses: false,
    };
  const phase = phaseOfService(identity)!;
  const stream = COMMAND_STREAMS[phase];
  const consumer = PHASE_CONSUMERS[phase];
  const query = QUERIES[phase];
  const notifier = phase === "notifier";
  return {
    publish: {
      allow: [
        ...bind(),
        ...eventsOf(phaseEventTypes(phase)),
        dlqSubject(stream, consumer),
        ...pull(stream, consumer),
        ...readBucket(STATE_BUCKET),
        ...readBucket(WRITERS_BUCKET),
        // The notifier asks the writers; it alone talks to them.
        ...(notifier ? WRITER_SUBJECTS : []),
      ],
      deny,
    },
    subscribe: { allow: [inbox, ...(query ? [query] : [])], deny: [] },
    allowResponses: query !== undefined,
  };
}

/**
 * An outside subscriber limited to one SVM's set events: the server checks the filter in the
 * consumer-create subject (nats.js puts it there), so a consumer on another SVM is refused.
 */
export function svmReaderPermissions(svm: string, identity: string): NatsPermissions {
  return {
    publish: {
      allow: [
        "$JS.API.INFO",
        `$JS.API.STREAM.INFO.${EVENTS_STREAM}`,
        `$JS.API.CONSUMER.CREATE.${EVENTS_STREAM}.*.${svmEventsSubject(svm)}`,
        `$JS.API.CONSUMER.MSG.NEXT.${EVENTS_STREAM}.*`,
        `$JS.API.CONSUMER.DELETE.${EVENTS_STREAM}.*`,
        `$JS.FC.${EVENTS_STREAM}.>`,
      ],
      deny: ADMIN_VERBS,
    },
    subscribe: { allow: [`${inboxPrefixOf(identity)}.>`], deny: [] },
    allowResponses: false,
  };
}

/**
 * An application writer's NATS user. Writers are addressed by their writer ID (wire.ts's
 * writerSubject and writerKey take the ID), not their name, so the identity is bound to one writer
 * ID: the narrowest rule the subjects allow.
 */
export const writerIdentity = (writerId: string): WriterIdentity => `writer-${writerId}`;
export type WriterIdentity = `writer-${string}`;

/**
 * An application writer's NATS user, and the shares it may register for: none named, any share
 * (the operator trusts the writer with every SVM); named, only those, so a writer cannot claim
 * another application's shares and be asked about (or fail) their backups.
 */
export interface WriterGrant {
  writerId: string;
  shares: { svm: string; share: string }[] | null;
}

/**
 * `<writer-id>` or `<writer-id>=<svm>/<share>[,<svm>/<share>...]`, as `rvss nats-config --writer`
 * and `rvss up --writer` take it.
 */
export function parseWriterGrant(spec: string): WriterGrant {
  const bad = (why: string): RvssError =>
    new RvssError(ErrorCodes.INVALID_ARGUMENT, `writer "${spec}": ${why}`, { writer: spec });
  const eq = spec.indexOf("=");
  const writerId = eq < 0 ? spec : spec.slice(0, eq);
  if (writerId === "") throw bad("needs a writer ID before '='");
  if (eq < 0) return { writerId, shares: null };
  const shares = spec
    .slice(eq + 1)
    .split(",")
    .map((entry) => {
      const m = /^([^/\s]+)\/([^/\s]+)$/.exec(entry.trim());
      if (!m) throw bad(`"${entry}" is not <svm>/<share>`);
      return { svm: m[1]!, share: m[2]! };
    });
  return { writerId, shares };
}

/** An application writer: it registers itself for its shares and answers its own requests, nothing else. */
export function writerPermissions(grant: WriterGrant): NatsPermissions {
  const keys =
    grant.shares === null
      ? [writerKeys(grant.writerId)]
      : grant.shares.map((s) => writerKey(grant.writerId, s.svm, s.share));
  return {
    publish: {
      allow: [
        ...keys.map((k) => `$KV.${WRITERS_BUCKET}.${k}`),
        "$JS.API.INFO",
        `$JS.API.STREAM.INFO.KV_${WRITERS_BUCKET}`,
      ],
      deny: ADMIN_VERBS,
    },
    subscribe: {
      allow: [`${inboxPrefixOf(writerIdentity(grant.writerId))}.>`, writerSubjects(grant.writerId)],
      deny: [],
    },
    allowResponses: true,
  };
}

export interface NatsUser {
  user: string;
  /**
   * A bcrypt hash (nats-server compares it), the password itself (local use), or `$NAME`: the
   * server reads it from its environment variable NAME.
   */
  password: string;
  permissions: NatsPermissions;
}

/**
 * The users of every rvss identity and of the application writers `writers`, each with the
 * password `password` gives for its user name.
 */
export function natsUsers(password: (user: string) => string, writers: readonly WriterGrant[] = []): NatsUser[] {
  return [
    ...NATS_IDENTITIES.map((id) => ({ user: id, password: password(id), permissions: natsPermissions(id) })),
    ...writers.map((w) => ({
      user: writerIdentity(w.writerId),
      password: password(writerIdentity(w.writerId)),
      permissions: writerPermissions(w),
    })),
  ];
}

const quote = (s: string): string => JSON.stringify(s);
const list = (xs: readonly string[]): string => `[${xs.map(quote).join(", ")}]`;

/** The nats-server `authorization` block for `users`; anyone else is refused. */
export function natsAuthorization(users: readonly NatsUser[]): string {
  const lines = ["authorization {", "  users: ["];
  for (const u of users) {
    const p = u.permissions;
    lines.push(
      "    {",
      `      user: ${quote(u.user)}`,
      `      password: ${u.password.startsWith("$") ? u.password : quote(u.password)}`,
      "      permissions: {",
      `        publish: { allow: ${list(p.publish.allow)}${p.publish.deny.length ? `, deny: ${list(p.publish.deny)}` : ""} }`,
      `        subscribe: { allow: ${list(p.subscribe.allow)}${p.subscribe.deny.length ? `, deny: ${list(p.subscribe.deny)}` : ""} }`,
      ...(p.allowResponses ? ["        allow_responses: true"] : []),
      "      }",
      "    }",
    );
  }
  lines.push("  ]", "}");
  return lines.join("\n");
}
