/**
 * An independent subscriber of the rvss event stream, built on the plain NATS client rather than
 * rvss's own bus, so tests see exactly what another service subscribing would see.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, type ConsumerMessages } from "@nats-io/jetstream";
import { Event } from "@rvss/proto";

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

  private constructor(
    private readonly nc: NatsConnection,
    private readonly messages: ConsumerMessages,
  ) {}

  /** Replays the events stream from its first message and keeps following it. `natsUrl` may list several servers, comma-separated. */
  static async start(natsUrl: string, stream = "RVSS_EVENTS"): Promise<EventRecorder> {
    const nc = await connect({ servers: natsUrl.split(","), name: "event-recorder", maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const js = jetstream(nc);
    let consumer;
    for (let i = 0; ; i++) {
      try {
        consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
        break;
      } catch (err) {
        // The stream appears when the first rvss service provisions it.
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const messages = await consumer.consume();
    const rec = new EventRecorder(nc, messages);
    void (async () => {
      for await (const m of messages) {
        rec.events.push({ subject: m.subject, seq: m.seq, msgId: m.headers?.get("Nats-Msg-Id") ?? "", event: Event.decode(m.data), receivedAt: Date.now() });
        for (const w of rec.waiters.splice(0)) w();
      }
    })();
    return rec;
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
        const seen = this.events.map((e) => e.subject).slice(-15).join("\n  ");
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
    this.messages.stop();
    await this.nc.close();
  }
}
