/**
 * The one way rvss consumes work: pull from a durable consumer only as many messages as there are
 * free slots (so replicas share the load evenly), handle each with explicit acks, keep long work
 * alive with `working()`, retry failures with backoff, and dead-letter what cannot succeed.
 */
import { ErrorCodes, RvssError, errorMessage, isPermanent, isRvssError } from "@rvss/core";
import { JetStreamApiError, type JsMsg } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  ConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import { handlerSeconds, messagesHandled, type Logger } from "@rvss/runtime";
import { HEADER_CORRELATION, headerValue, type Bus } from "./bus";
import { deadLetter } from "./dead-letters";
import { tracedProcess } from "./trace";

export interface Delivery<T> {
  data: T;
  subject: string;
  deliveryCount: number;
  correlationId: string | undefined;
  streamSequence: number;
  /** Redeliver after `delayMs` without counting it as a failure (used by timers). */
  defer(delayMs: number): void;
}

export interface WorkerOptions<T> {
  stream: string;
  consumer: string;
  /** Turns a message into its data; what it throws dead-letters the message with the reason. */
  decode(data: Uint8Array, subject: string): T;
  handle(d: Delivery<T>): Promise<void>;
  log: Logger;
  concurrency: number;
  /** Deliveries before giving up (Infinity for timers, which defer themselves). */
  maxDeliver: number;
  ackWaitMs: number;
  /** Called once when a message is given up, before it is dead-lettered. */
  onGiveUp?(d: Delivery<T>, err: RvssError): Promise<void>;
}

export interface Worker {
  /** True while the pull loop runs. */
  running(): boolean;
  /** Stops pulling and waits for the messages in hand. */
  stop(): Promise<void>;
}

/** Whole milliseconds: the server reads a nak's delay as integer nanoseconds and ignores any other. */
function retryDelay(deliveryCount: number): number {
  const base = Math.min(250 * 2 ** (deliveryCount - 1), 15_000);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/**
 * True when an error comes from NATS itself (unreachable, timing out, electing leaders), not from
 * the message: retrying such a failure must not use up the message's deliveries.
 */
function isNatsUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (
      e instanceof TimeoutError ||
      e instanceof RequestError ||
      e instanceof NoRespondersError ||
      e instanceof ConnectionError ||
      e instanceof ClosedConnectionError
    )
      return true;
    if (e instanceof JetStreamApiError && e.status === 503) return true;
    if (e.constructor.name === "JetStreamNotEnabled" || isRvssError(e, ErrorCodes.NATS_UNAVAILABLE)) return true;
  }
  return false;
}

/** Runs the handler, and again in place (the message kept in hand) while NATS is what fails. */
async function handleWhileNatsRecovers<T>(
  o: WorkerOptions<T>,
  d: Delivery<T>,
  log: Logger,
  stopped: () => boolean,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await o.handle(d);
    } catch (err) {
      if (!isNatsUnavailable(err) || stopped()) throw err;
      const delay = retryDelay(attempt);
      log.warn({ err: errorMessage(err), retryInMs: delay }, "NATS is unavailable; retrying in place");
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export function startWorker<T>(bus: Bus, o: WorkerOptions<T>): Worker {
  let stopped = false;
  let loopDone: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  let wake: (() => void) | null = null;
  let current: { stop(): void } | null = null;

  const handleOne = async (m: JsMsg): Promise<void> => {
    const stopTimer = handlerSeconds.startTimer({ consumer: o.consumer });
    const keepAlive = setInterval(() => m.working(), Math.max(500, o.ackWaitMs / 3));
    let deferred = false;
    const base = {
      subject: m.subject,
      deliveryCount: m.info.deliveryCount,
      correlationId: headerValue(m.headers, HEADER_CORRELATION),
      streamSequence: m.seq,
      defer: (delayMs: number) => {
        deferred = true;
        m.nak(Math.max(0, Math.round(delayMs)));
      },
    };
    const log = o.log.child({
      subject: m.subject,
      seq: m.seq,
      delivery: m.info.deliveryCount,
    });
    let delivery: Delivery<T>;
    try {
      delivery = { ...base, data: o.decode(m.data, m.subject) };
    } catch (err) {
      log.error({ err: errorMessage(err) }, "message cannot be decoded; dead-lettering it");
      await deadLetter(bus, o, m, `cannot decode: ${errorMessage(err)}`);
      messagesHandled.inc({ consumer: o.consumer, outcome: "dead_letter" });
      clearInterval(keepAlive);
      stopTimer();
      return;
    }
    try {
      if (m.info.deliveryCount > o.maxDeliver) {
        throw new RvssError(ErrorCodes.INTERNAL, `gave up after ${o.maxDeliver} deliveries`);
      }
      await handleWhileNatsRecovers(o, delivery, log, () => stopped);
      if (!deferred) m.ack();
      messagesHandled.inc({ consumer: o.consumer, outcome: deferred ? "deferred" : "ack" });
    } catch (err) {
      const e = RvssError.from(err);
      const last = isPermanent(e) || m.info.deliveryCount >= o.maxDeliver;
      if (!last) {
        const delay = retryDelay(m.info.deliveryCount);
        log.warn({ code: e.code, err: e.message, retryInMs: Math.round(delay) }, "handler failed; will retry");
        m.nak(delay);
        messagesHandled.inc({ consumer: o.consumer, outcome: "retry" });
      } else {
        log.error({ code: e.code, details: e.details, err: e.message }, "handler failed for good; dead-lettering");
        try {
          await o.onGiveUp?.(delivery, e);
          await deadLetter(bus, o, m, `${e.code}: ${e.message}`);
        } catch (giveUpErr) {
          log.error({ err: errorMessage(giveUpErr) }, "could not report the failure; will retry");
          m.nak(retryDelay(m.info.deliveryCount));
          return;
        }
        messagesHandled.inc({ consumer: o.consumer, outcome: "dead_letter" });
      }
    } finally {
      clearInterval(keepAlive);
      stopTimer();
    }
  };

  // Every log line and publish of the handling belongs to the message's trace.
  const traced = (m: JsMsg): Promise<void> =>
    tracedProcess(
      { subject: m.subject, headers: m.headers, msgId: headerValue(m.headers, "Nats-Msg-Id") },
      o.stream,
      o.consumer,
      bus.opts.name,
      () => handleOne(m),
    );

  const loop = async (): Promise<void> => {
    const consumer = await bus.js.consumers.get(o.stream, o.consumer);
    while (!stopped) {
      const free = o.concurrency - inFlight.size;
      if (free <= 0) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      try {
        const batch = await consumer.fetch({ max_messages: free, expires: 2_000 });
        current = batch;
        for await (const m of batch) {
          const p: Promise<void> = traced(m).finally(() => {
            inFlight.delete(p);
            const w = wake;
            wake = null;
            w?.();
          });
          inFlight.add(p);
        }
      } catch (err) {
        if (stopped) break;
        o.log.warn({ err: errorMessage(err), consumer: o.consumer }, "pull failed; retrying");
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        current = null;
      }
    }
  };

  loopDone = loop().catch((err: unknown) => {
    o.log.fatal({ err: errorMessage(err), consumer: o.consumer }, "worker loop ended");
  });

  return {
    running: () => !stopped,
    async stop() {
      stopped = true;
      current?.stop();
      const w = wake;
      wake = null;
      w?.();
      await loopDone;
      await Promise.allSettled([...inFlight]);
    },
  };
}
