/**
 * Dead letters: messages rvss gave up on (they cannot be decoded, or kept failing after every retry)
 * are copied to the RVSS_DLQ stream with why, from where and after how many deliveries, and
 * removed from their work queue, so nothing stays stuck and nothing is silently dropped.
 */
import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import type { MsgHdrs } from "@nats-io/transport-node";
import type { Bus } from "./bus";
import { DLQ_STREAM, dlqSubject, deadLetterId } from "@rvss/core";

export const DLQ_HEADERS = {
  reason: "Rvss-Dlq-Reason",
  subject: "Rvss-Dlq-Subject",
  stream: "Rvss-Dlq-Stream",
  streamSeq: "Rvss-Dlq-Stream-Seq",
  deliveryCount: "Rvss-Dlq-Delivery-Count",
} as const;

export interface DeadLetter {
  /** Sequence in RVSS_DLQ. */
  seq: number;
  time: Date;
  reason: string;
  /** Where the message was published, and where it was stored. */
  subject: string;
  stream: string;
  streamSeq: number;
  deliveryCount: number;
  data: Uint8Array;
}

/** Copies a message to the dead-letter stream (once: its ID is its place in its stream), then removes it from its own. */
export async function deadLetter(
  bus: Bus,
  from: { stream: string; consumer: string },
  m: JsMsg,
  reason: string,
): Promise<void> {
  await bus.publish(dlqSubject(from.stream, from.consumer), m.data, {
    msgId: deadLetterId(from.stream, m.seq),
    extraHeaders: {
      [DLQ_HEADERS.reason]: reason.slice(0, 1000),
      [DLQ_HEADERS.subject]: m.subject,
      [DLQ_HEADERS.stream]: from.stream,
      [DLQ_HEADERS.streamSeq]: String(m.seq),
      [DLQ_HEADERS.deliveryCount]: String(m.info.deliveryCount),
    },
  });
  m.term();
}

function letter(seq: number, time: Date, h: MsgHdrs | undefined, data: Uint8Array): DeadLetter {
  const get = (k: string) => h?.get(k) ?? "";
  return {
    seq,
    time,
    reason: get(DLQ_HEADERS.reason),
    subject: get(DLQ_HEADERS.subject),
    stream: get(DLQ_HEADERS.stream),
    streamSeq: Number(get(DLQ_HEADERS.streamSeq)),
    deliveryCount: Number(get(DLQ_HEADERS.deliveryCount)),
    data,
  };
}

/** How many dead letters there are, and the last `limit` of them, oldest first. */
export async function listDeadLetters(bus: Bus, limit: number): Promise<{ total: number; letters: DeadLetter[] }> {
  const state = (await bus.jsm.streams.info(DLQ_STREAM)).state;
  if (state.messages === 0 || limit <= 0) return { total: state.messages, letters: [] };
  const consumer = await bus.js.consumers.get(DLQ_STREAM, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(state.first_seq, state.last_seq - limit + 1),
  });
  const letters: DeadLetter[] = [];
  const messages = await consumer.consume();
  for await (const m of messages) {
    letters.push(letter(m.seq, new Date(m.info.timestampNanos / 1e6), m.headers, m.data));
    if (m.seq >= state.last_seq) break;
  }
  messages.stop();
  return { total: state.messages, letters };
}

/** One dead letter by its sequence in RVSS_DLQ, or null. */
export async function getDeadLetter(bus: Bus, seq: number): Promise<DeadLetter | null> {
  const m = await bus.jsm.streams.getMessage(DLQ_STREAM, { seq });
  return m ? letter(m.seq, m.time, m.header, m.data) : null;
}
