/**
 * An independent reader of the rvss event stream, built on the plain NATS client rather than
 * rvss's own bus, so tests see exactly what the stream holds, in order.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { EVENTS_STREAM } from "@rvss/core";
import { Event } from "@rvss/proto";
import type { NatsUsers } from "./nats-users";

export interface RecordedEvent {
  subject: string;
  seq: number;
  /** The JetStream message ID (Nats-Msg-Id). */
  msgId: string;
  event: Event;
  /** When this subscriber received it (epoch ms). */
  receivedAt: number;
}

export class EventRecorder {
  readonly events: RecordedEvent[] = [];
  private waiters: (() => void)[] = [];
  private stopped = false;
  private following: Promise<void> = Promise.resolve();
  /** The sequence of the next message to read. */
  private next = 1;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
  ) {}

  /**
   * Reads the events stream from its first message and keeps following it, connected as the viewer
   * of `users` (which may read the stream). `natsUrl` may list several servers, comma-separated.
   */
  static async start(natsUrl: string, users: NatsUsers): Promise<EventRecorder> {
    const nc = await connect({
      servers: natsUrl.split(","),
      name: "event-recorder",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...users.connectOptions("viewer"),
    });
    const rec = new EventRecorder(nc, await jetstreamManager(nc, { timeout: 2_000 }));
    rec.following = rec.follow();
    return rec;
  }

  /**
   * Reads message after message by sequence, asking the stream's leader each time. Unlike a consumer,
   * this keeps no state on the servers, so it goes on wherever it stopped when a server restarts or a
   * cluster loses the node that held a consumer.
   */
  private async follow(): Promise<void> {
    while (!this.stopped) {
      try {
        const m = await this.jsm.streams.getMessage(EVENTS_STREAM, { seq: this.next });
        if (m) {
          this.events.push({
            subject: m.subject,
            seq: m.seq,
            msgId: m.header?.get("Nats-Msg-Id") ?? "",
            event: Event.decode(m.data),
            receivedAt: Date.now(),
          });
          for (const w of this.waiters.splice(0)) w();
          this.next++;
          continue;
        }
        // Nothing at `next`: not written yet (or not readable yet on a server still recovering its
        // store), or removed by the age limit, which is the only removal this stream has.
        const { state } = await this.jsm.streams.info(EVENTS_STREAM);
        if (state.first_seq > this.next) {
          this.next = state.first_seq;
          continue;
        }
      } catch {
        // The stream is not there yet, or has no leader for a moment (a server restarting).
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Resolves once everything the stream holds now has been recorded: a check of the events must not
   * run while this reader is still behind the stream (a busy machine can hold it back for seconds).
   */
  async caughtUp(timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last: number | undefined;
    while (last === undefined || this.next <= last) {
      if (Date.now() > end)
        throw new Error(
          `the event recorder read up to ${this.next - 1} of ${last ?? "an unknown number of"} messages within ${timeoutMs} ms`,
        );
      if (last === undefined)
        last = await this.jsm.streams.info(EVENTS_STREAM).then(
          (i) => i.state.last_seq,
          () => undefined,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Events of one set or backup, in stream order. */
  of(id: string): RecordedEvent[] {
    return this.events.filter((e) => e.event.setId === id || e.event.backupId === id);
  }

  /** Resolves with the first recorded event that matches, waiting up to `timeoutMs`. */
  async waitFor(match: (e: RecordedEvent) => boolean, timeoutMs = 20_000): Promise<RecordedEvent> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(match);
      if (hit) return hit;
      const left = end - Date.now();
      if (left <= 0) {
        const seen = this.events
          .map((e) => e.subject)
          .slice(-15)
          .join("\n  ");
        throw new Error(`no matching event within ${timeoutMs} ms; the last ones were:\n  ${seen}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.following;
    await this.nc.close();
  }
}
