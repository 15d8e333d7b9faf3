/**
 * What a verb needs from the outside, made on first use and closed once the verb ends: the
 * configuration, the coordinator's clients and a read-only connection to NATS.
 */
import { ErrorCodes, RvssError } from "@rvss/core";
import { PreflightClient, RvssClient, ScheduleClient } from "@rvss/client";
import { Bus, natsConnectOptions, redactUrls } from "@rvss/bus";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { createLogger, type RvssConfig } from "@rvss/runtime";
import { cliConfig } from "./context";

export class Session {
  private cfg?: RvssConfig;
  private closers: (() => Promise<void> | void)[] = [];

  config(): RvssConfig {
    return (this.cfg ??= cliConfig());
  }

  client(): RvssClient {
    const c = new RvssClient({ address: this.config().grpcAddr, auth: this.config().clientAuth });
    this.closers.push(() => c.close());
    return c;
  }

  schedules(): ScheduleClient {
    const c = new ScheduleClient({ address: this.config().grpcAddr, auth: this.config().clientAuth });
    this.closers.push(() => c.close());
    return c;
  }

  preflight(): PreflightClient {
    const c = new PreflightClient({ address: this.config().grpcAddr, auth: this.config().clientAuth });
    this.closers.push(() => c.close());
    return c;
  }

  /**
   * Connects to NATS without provisioning anything, and checks that `streams` exist: the CLI only
   * reads what the services made.
   */
  async bus(streams: string[]): Promise<Bus> {
    const log = createLogger("rvss-cli", { logLevel: "warn", logFormat: "json" });
    const natsUrl = this.config().natsUrl;
    const bus = await Bus.connect({
      servers: natsUrl,
      name: "rvss-cli",
      log,
      // One attempt: a refused port fails at once, as kubectl does.
      connectTimeoutMs: 0,
      tls: this.config().natsTls,
      auth: natsConnectOptions(this.config().nats, "rvss-cli"),
    });
    this.closers.push(() => bus.close());
    for (const stream of streams) {
      try {
        await bus.jsm.streams.info(stream);
      } catch (err) {
        const absent = err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
        if (!absent && !/jetstream not enabled/i.test((err as Error).message)) throw err;
        throw new RvssError(
          ErrorCodes.NATS_UNAVAILABLE,
          `rvss is not provisioned on NATS at ${redactUrls(natsUrl)} (no stream ${stream}); is this the right server? (rvss up, or set NATS_URL)`,
          { natsUrl: redactUrls(natsUrl) },
        );
      }
    }
    return bus;
  }

  async close(): Promise<void> {
    for (const c of this.closers.reverse()) await c();
    this.closers = [];
  }
}
