/**
 * ceiling: what the bus itself can do on this machine, in the same run as the other figures: raw
 * JetStream publishes (awaited one by one, and 256 in flight), a durable consumer with explicit acks,
 * and KV compare-and-set updates, all on a fresh nats-server with file storage.
 */
import { AckPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { NatsServer } from "@rvss/testkit";
import type { Scenario } from "../main";
import { fmt } from "../system";

const MESSAGES = Number(process.env.BENCH_CEILING_MESSAGES ?? 50_000);
const payload = new Uint8Array(128);

export const run: Scenario["run"] = async (print) => {
  const nats = await NatsServer.start();
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: "CEILING",
      subjects: ["ceiling.>"],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
    });
    const rate = async (n: number, fn: () => Promise<void>): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return n / ((performance.now() - t0) / 1000);
    };
    const sequential = await rate(MESSAGES / 10, async () => {
      for (let i = 0; i < MESSAGES / 10; i++) await js.publish("ceiling.seq", payload);
    });
    const pipelined = await rate(MESSAGES, async () => {
      const inFlight = new Set<Promise<unknown>>();
      for (let i = 0; i < MESSAGES; i++) {
        const p: Promise<unknown> = js.publish("ceiling.pipe", payload).finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= 256) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    });
    await jsm.consumers.add("CEILING", {
      durable_name: "drain",
      ack_policy: AckPolicy.Explicit,
      filter_subject: "ceiling.pipe",
    });
    const consumer = await js.consumers.get("CEILING", "drain");
    const consumed = await rate(MESSAGES, async () => {
      const messages = await consumer.consume({ max_messages: 1000 });
      let n = 0;
      for await (const m of messages) {
        m.ack();
        if (++n === MESSAGES) break;
      }
    });
    const kv = await new Kvm(js).create("ceiling");
    let revision = await kv.put("k", payload);
    const cas = await rate(MESSAGES / 10, async () => {
      for (let i = 0; i < MESSAGES / 10; i++) revision = await kv.update("k", payload, revision);
    });
    print(`                                     msgs/s`);
    print(`publish, awaited one by one         ${fmt(sequential, 0)}`);
    print(`publish, 256 in flight              ${fmt(pipelined, 0)}`);
    print(`durable consume + ack               ${fmt(consumed, 0)}`);
    print(`KV compare-and-set, one by one      ${fmt(cas, 0)}`);
    return {
      messages: MESSAGES,
      publishSequentialPerS: sequential,
      publishPipelinedPerS: pipelined,
      consumeAckPerS: consumed,
      kvCasPerS: cas,
    };
  } finally {
    await nc.close();
    await nats.dispose();
  }
};
