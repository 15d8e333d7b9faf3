import { Kvm } from "@nats-io/kv";
import {
  isRvssError,
  AUDIT_STREAM,
  COMMAND_STREAMS,
  DLQ_STREAM,
  EVENTS_STREAM,
  PHASE_CONSUMERS,
  STATE_BUCKET,
  TIMERS_STREAM,
  setEventSubject,
  stepFailedType,
} from "@rvss/core";
import { Event, Step } from "@rvss/proto";
import { NatsCluster, TESTER, startSecureNats, testPki, type NatsServer, type NatsUsers } from "@rvss/testkit";
import pino from "pino";
import { trace } from "@opentelemetry/api";
import { startTracing } from "@rvss/runtime";
import {
  Bus,
  commandQueued,
  commandResults,
  decodeEvent,
  eventSubject,
  publishCommand,
  publishEvent,
  resultEvent,
  startWorker,
  type Delivery,
} from "@rvss/bus";

const log = pino({ level: "silent" });
// Spans exist (nothing exported), so the trace context travels in the headers.
startTracing("bus-test", { processors: [] });
let nats: NatsServer;
let users: NatsUsers;
let bus: Bus;
/** How the buses of these tests log in: over TLS, as the TESTER of `of`'s server. */
const loginTo = (of: NatsUsers) => ({ tls: { caFile: testPki().ca }, auth: of.connectOptions(TESTER) });

beforeAll(async () => {
  ({ nats, users } = await startSecureNats());
  bus = await Bus.connect({ ...loginTo(users), servers: nats.url, name: "bus-test", log, ackWaitMs: 2_000 });
  await bus.provision();
});

afterAll(async () => {
  await bus.close();
  await nats.dispose();
});

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("bus", () => {
  test("provisioning is idempotent, also from several processes at once", async () => {
    const others = await Promise.all(
      [1, 2, 3].map((i) => Bus.connect({ ...loginTo(users), servers: nats.url, name: `p${i}`, log, ackWaitMs: 2_000 })),
    );
    await Promise.all(others.map((b) => b.provision()));
    const names: string[] = [];
    for await (const s of bus.jsm.streams.list()) names.push(s.config.name);
    expect(names.sort()).toEqual(
      expect.arrayContaining([
        EVENTS_STREAM,
        TIMERS_STREAM,
        DLQ_STREAM,
        ...Object.values(COMMAND_STREAMS),
        `KV_${STATE_BUCKET}`,
      ]),
    );
    expect((await bus.jsm.consumers.info(COMMAND_STREAMS.executor, PHASE_CONSUMERS.executor)).config.ack_policy).toBe(
      "explicit",
    );
    await Promise.all(others.map((b) => b.close()));
  });

  test("binding changes nothing: it warns of a setting that differs, and fails naming what is missing", async () => {
    const lines: string[] = [];
    const warnings = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const before = await bus.jsm.streams.info(EVENTS_STREAM);
    const other = await Bus.connect({
      ...loginTo(users),
      servers: nats.url,
      name: "b",
      log: warnings,
      ackWaitMs: 2_000,
      duplicateWindowMs: 5_000,
    });
    await other.bind();
    await other.close();
    expect((await bus.jsm.streams.info(EVENTS_STREAM)).config).toEqual(before.config);
    const warned = lines.map((l) => JSON.parse(l) as { stream?: string; differs: string[]; msg: string });
    expect(warned.map((w) => [w.stream, w.differs])).toEqual(
      [EVENTS_STREAM, ...Object.values(COMMAND_STREAMS), TIMERS_STREAM, DLQ_STREAM, AUDIT_STREAM].map((s) => [
        s,
        ["duplicate_window"],
      ]),
    );
    expect(warned[0]!.msg).toMatch(/rvss provision updates it$/);

    const { nats: empty, users: emptyUsers } = await startSecureNats();
    try {
      const unprovisioned = await Bus.connect({ ...loginTo(emptyUsers), servers: empty.url, name: "b", log });
      const err = await unprovisioned.bind().then(
        () => null,
        (e: unknown) => e,
      );
      await unprovisioned.close();
      expect(isRvssError(err, "FAILED_PRECONDITION")).toBe(true);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^rvss is not provisioned on NATS at ${empty.url}: no stream ${EVENTS_STREAM}, .*consumer ${EVENTS_STREAM}/coordinator, .*bucket ${STATE_BUCKET}, bucket rvss-writers\\. Run rvss provision`,
        ),
      );
    } finally {
      await empty.dispose();
    }
  });

  test("a repeated message ID is stored once", async () => {
    const a = await bus.publish("rvss.v1.evt.vs1.s1.test", enc("x"), { msgId: "dup-1" });
    const b = await bus.publish("rvss.v1.evt.vs1.s1.test", enc("x"), { msgId: "dup-1" });
    expect([a.duplicate, b.duplicate, b.seq]).toEqual([false, true, a.seq]);
  });

  test("NATS that cannot be reached is an error naming the server", async () => {
    let err: unknown;
    try {
      await Bus.connect({ servers: "nats://127.0.0.1:1", name: "x", log, connectTimeoutMs: 500 });
    } catch (e) {
      err = e;
    }
    expect(isRvssError(err, "NATS_UNAVAILABLE")).toBe(true);
    expect((err as Error).message).toMatch(/cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});

describe("commands", () => {
  const sets = ["aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"];
  const context = (setId: string) => ({ commandId: `${setId}:create:1`, svm: "vs-q", setId, backupId: "" });
  const create = (setId: string) => ({
    context: context(setId),
    kind: { $case: "createShadowCopies" as const, value: { shadowCopies: [] } },
  });

  test("a command is known as queued behind another set's command on its subject, and its results are found among its set's events", async () => {
    for (const id of sets) await publishCommand(bus, "executor", create(id));
    expect(await Promise.all(sets.map((id) => commandQueued(bus, "executor", create(id))))).toEqual([true, true]);
    expect(await commandQueued(bus, "executor", create("cccccccc-cccc-4ccc-8ccc-cccccccccccc"))).toBe(false);

    const failed = { $case: "stepFailed" as const, value: { step: 0, reason: "x", code: "y" } };
    await publishEvent(bus, {
      ...resultEvent(context(sets[0]!), "test", { $case: "setStarted", value: { context: 0, shares: [] } }),
      eventId: `${sets[0]}:started`,
    });
    await publishEvent(bus, resultEvent({ ...context(sets[0]!), commandId: `${sets[0]}:create:0` }, "test", failed));
    expect(await commandResults(bus, context(sets[0]!))).toEqual([]);
    await publishEvent(bus, resultEvent(context(sets[0]!), "test", failed));
    const found = await Promise.all(sets.map((id) => commandResults(bus, context(id))));
    expect(found.map((r) => r.map((e) => e.eventId))).toEqual([[`${sets[0]}:create:1/stepFailed`], []]);
  });
});

test("an event is taken only from the subject its body belongs on: a step's failure on its phase's", () => {
  const setId = "dddddddd-dddd-4ddd-8ddd-dddddddddddd";
  const ctx = { commandId: `${setId}:resolve:1`, svm: "vs1", setId, backupId: "" };
  const e = resultEvent(ctx, "share-discovery", {
    $case: "stepFailed",
    value: { step: Step.STEP_RESOLVE, reason: "no such share", code: "SHARE_NOT_FOUND" },
  });
  const own = setEventSubject("vs1", setId, stepFailedType("discovery"));
  expect([eventSubject(e), own]).toEqual([own, `rvss.v1.evt.vs1.${setId}.discovery_step_failed`]);
  const data = Event.encode(e).finish();
  expect(decodeEvent(own, data)).toEqual(e);
  for (const wrong of [
    setEventSubject("vs1", setId, stepFailedType("executor")),
    setEventSubject("vs1", setId, "shadowCopiesCreated"),
    setEventSubject("vs1", "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee", stepFailedType("discovery")),
  ])
    expect(() => decodeEvent(wrong, data)).toThrow(
      `refused: a stepFailed event on ${wrong}, where only ${own} may carry it`,
    );
  // A step with no failure of its own in the table (the writers' thaw) fails on its source's phase's subject.
  const thaw = resultEvent({ ...ctx, commandId: `${setId}:thaw` }, "auto-recovery-notifier", {
    $case: "stepFailed",
    value: { step: Step.STEP_UNSPECIFIED, reason: "writer gone", code: "TIMEOUT" },
  });
  expect(eventSubject(thaw)).toBe(setEventSubject("vs1", setId, stepFailedType("notifier")));
  expect(eventSubject({ ...thaw, source: "coordinator" })).toBe(setEventSubject("vs1", setId, "stepFailed"));
});

describe("workers", () => {
  const stream = COMMAND_STREAMS.notifier;
  const consumer = PHASE_CONSUMERS.notifier;
  const subject = (n: string) => `rvss.v1.cmd.notifier.vs1.${n}`;

  test("replicas share one durable consumer: each message is handled once", async () => {
    const seen: string[] = [];
    const make = () =>
      startWorker(bus, {
        stream,
        consumer,
        decode: dec,
        log,
        concurrency: 4,
        maxDeliver: 3,
        ackWaitMs: 2_000,
        handle: async (d) => void seen.push(d.data),
      });
    const [w1, w2] = [make(), make()];
    for (let i = 0; i < 40; i++) await bus.publish(subject("share"), enc(`m${i}`), { msgId: `share-${i}` });
    await until(() => seen.length >= 40);
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all([w1.stop(), w2.stop()]);
    expect(seen.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`).sort());
  });

  test("a failing handler is retried with backoff; trace and correlation travel with the message", async () => {
    const deliveries: Delivery<string>[] = [];
    const at: number[] = [];
    const w = startWorker(bus, {
      stream,
      consumer,
      decode: dec,
      log,
      concurrency: 1,
      maxDeliver: 5,
      ackWaitMs: 2_000,
      handle: async (d) => {
        deliveries.push(d);
        traceIds.push(trace.getActiveSpan()?.spanContext().traceId);
        at.push(Date.now());
        if (d.deliveryCount < 3) throw new Error("transient");
      },
    });
    const traceIds: (string | undefined)[] = [];
    let published = "";
    await trace.getTracer("test").startActiveSpan("publisher", (span) => {
      published = span.spanContext().traceId;
      return bus
        .publish(subject("retry"), enc("r"), { msgId: "retry-1", correlationId: "backup-7" })
        .finally(() => span.end());
    });
    await until(() => deliveries.length >= 3);
    await w.stop();
    expect(deliveries.map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
    // Backoff of 125-250 ms, then 250-500 ms (a delay the server ignored would redeliver at once).
    expect([at[1]! - at[0]! >= 120, at[2]! - at[1]! >= 245]).toEqual([true, true]);
    // Every delivery, redeliveries too, continues the publisher's trace (traceparent in the headers).
    expect(published).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIds).toEqual([published, published, published]);
    expect(deliveries[0]!.correlationId).toBe("backup-7");
  });

  test("what cannot succeed is dead-lettered with its reason, and the worker goes on", async () => {
    const gaveUp: string[] = [];
    const handled: string[] = [];
    const w = startWorker(bus, {
      stream,
      consumer,
      log,
      concurrency: 2,
      maxDeliver: 2,
      ackWaitMs: 2_000,
      decode: (b) => {
        const s = dec(b);
        if (s === "garbage") throw new Error("not a command");
        return s;
      },
      handle: async (d) => {
        if (d.data === "poison") throw new Error("always fails");
        handled.push(d.data);
      },
      onGiveUp: async (d) => void gaveUp.push(d.data),
    });
    await bus.publish(subject("dlq"), enc("poison"), { msgId: "dlq-1" });
    await bus.publish(subject("dlq"), enc("garbage"), { msgId: "dlq-2" });
    await bus.publish(subject("dlq"), enc("fine"), { msgId: "dlq-3" });
    await until(async () => (await bus.jsm.streams.info(DLQ_STREAM)).state.messages >= 2 && handled.includes("fine"));
    await w.stop();
    expect(gaveUp).toEqual(["poison"]);
    const dlq = await bus.js.consumers.get(DLQ_STREAM);
    const reasons: string[] = [];
    for await (const m of await dlq.fetch({ max_messages: 2, expires: 2_000 }))
      reasons.push(`${m.headers?.get("Rvss-Dlq-Subject")}: ${m.headers?.get("Rvss-Dlq-Reason")}`);
    expect(reasons.sort()).toEqual([
      `${subject("dlq")}: INTERNAL: always fails`,
      `${subject("dlq")}: cannot decode: not a command`,
    ]);
    expect((await bus.jsm.streams.info(stream)).state.messages).toBe(0);
  });
});

describe("state store", () => {
  test("compare-and-set refuses a stale revision", async () => {
    const first = await bus.state.compareAndSet("t.cas", { v: 1 }, null);
    expect(first).toEqual(expect.any(Number));
    const second = await bus.state.compareAndSet("t.cas", { v: 2 }, first);
    expect(second).toBeGreaterThan(first!);
    expect(await bus.state.compareAndSet("t.cas", { v: 3 }, first)).toBeNull();
    expect(await bus.state.compareAndSet("t.cas", { v: 3 }, null)).toBeNull();
    expect((await bus.state.get<{ v: number }>("t.cas"))!.value).toEqual({ v: 2 });
  });

  test("compare-and-sets of one key at once from one process: one wins, also on a 3-node cluster", async () => {
    // nats-server before 2.9.21 (nats-server#4320) lets a clustered stream accept every one of
    // them; the store sends a key's writes one after the other, so each is checked against the last.
    const cluster = await NatsCluster.start(3, { secure: true });
    const replicated = await Bus.connect({
      ...loginTo(cluster.users!),
      servers: cluster.url,
      name: "cas",
      log,
      replicas: 3,
    });
    await replicated.provision();
    try {
      for (const store of [bus.state, replicated.state]) {
        const winners: number[] = [];
        for (let round = 0; round < 10; round++) {
          const rev = (await store.compareAndSet(`t.race${round}`, 0, null))!;
          const results = await Promise.all([1, 2, 3, 4, 5].map((v) => store.compareAndSet(`t.race${round}`, v, rev)));
          winners.push(results.filter((r) => r !== null).length);
        }
        expect(winners).toEqual(Array(10).fill(1));
      }
    } finally {
      await replicated.close();
      await cluster.dispose();
    }
  }, 60_000);

  test("concurrent mutations from several connections lose no update", async () => {
    const others = await Promise.all(
      [1, 2, 3].map((i) => Bus.connect({ ...loginTo(users), servers: nats.url, name: `m${i}`, log })),
    );
    await Promise.all(
      others.flatMap((b) =>
        Array.from({ length: 10 }, () =>
          b.state.mutate<number, void>("t.counter", (cur) => ({ next: (cur?.value ?? 0) + 1, result: undefined })),
        ),
      ),
    );
    expect((await bus.state.get<number>("t.counter"))!.value).toBe(30);
    await Promise.all(others.map((b) => b.close()));
  });

  test("the state bucket is a real KV bucket", async () => {
    const kv = await new Kvm(bus.js).open(STATE_BUCKET);
    expect((await kv.status()).bucket).toBe(STATE_BUCKET);
  });
});
