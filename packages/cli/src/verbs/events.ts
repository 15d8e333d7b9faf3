/** rvss events tail: the event stream straight from NATS, as any other subscriber reads it. */
import { DeliverPolicy } from "@nats-io/jetstream";
import { EVENTS_STREAM, svmEventsSubject } from "@rvss/core";
import { eventType, redactUrls } from "@rvss/bus";
import { Event } from "@rvss/proto";
import { describeEvent } from "../format";
import { outputOption, printer } from "../printer";
import type { Register } from "../program";

export const eventsVerbs: Register = (program, run) => {
  program
    .command("events")
    .description("the events rvss publishes on NATS")
    .command("tail")
    .description("follow events as they are published, until Ctrl-C (read-only: binds to the stream)")
    .option("--svm <svm>", "only events of this SVM")
    .option("--backup <id>", "only events of this backup (its ID, or the start of it)")
    .option("--all", "replay every stored event first")
    .addOption(outputOption())
    .action(
      run(async (s, o) => {
        const out = printer(o.output);
        const bus = await s.bus([EVENTS_STREAM]);
        // An ordered consumer is ephemeral (the server drops it once the client is gone): no durable
        // consumer, stream or bucket is created or changed.
        const consumer = await bus.js.consumers.get(EVENTS_STREAM, {
          ...(o.svm ? { filter_subjects: svmEventsSubject(o.svm) } : {}),
          deliver_policy: o.all ? DeliverPolicy.All : DeliverPolicy.New,
        });
        const messages = await consumer.consume();
        out.note(
          `following ${o.all ? "every" : "new"} event${o.svm ? ` of SVM ${o.svm}` : ""} on ${EVENTS_STREAM}; Ctrl-C stops`,
        );
        void (async () => {
          for await (const st of bus.nc.status()) {
            if (st.type === "disconnect")
              out.note(`rvss: lost NATS at ${redactUrls(s.config().natsUrl)}; reconnecting`);
            if (st.type === "reconnect") out.note("rvss: NATS is back; following again");
          }
        })();
        process.once("SIGINT", () => messages.stop());
        process.once("SIGTERM", () => messages.stop());
        for await (const m of messages) {
          const e = Event.decode(m.data);
          if (o.backup && !e.backupId.startsWith(o.backup.toLowerCase())) continue;
          out.streamItem(`${e.time?.toISOString()}  ${describeEvent(e)}`, {
            subject: m.subject,
            seq: m.seq,
            type: eventType(e),
            event: Event.toJSON(e),
          });
        }
        return 0;
      }),
    );
};
