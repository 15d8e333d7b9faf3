/**
 * One service started in this process against its own nats-server, with a bus to publish commands
 * on and a recorder of the events it publishes: what each service's own tests stand on.
 */
import { connectBus, type Bus } from "@rvss/bus";
import { createLogger, type RunningService, type RvssConfig, type StartFn } from "@rvss/runtime";
import { EventRecorder } from "./events";
import { NatsServer } from "./nats-server";
import { testConfig } from "./config";

export interface ServiceHarness {
  nats: NatsServer;
  config: RvssConfig;
  bus: Bus;
  events: EventRecorder;
  /** The running service; `startService` replaces it. */
  service: RunningService;
  /** Starts the service again (after a test stopped it). */
  startService(): Promise<void>;
  stop(): Promise<void>;
}

/** `filerConfig` is the local backend's filer description (none for a service that does not read it). */
export async function startServiceHarness(
  start: StartFn,
  filerConfig = "/nonexistent/filer.json",
): Promise<ServiceHarness> {
  const nats = await NatsServer.start();
  const config = testConfig(nats.url, filerConfig);
  const log = createLogger("test", config);
  const h: ServiceHarness = {
    nats,
    config,
    service: await start(config, log),
    bus: await connectBus(config, "test", log).then(async (b) => (await b.provision(), b)),
    events: await EventRecorder.start(nats.url),
    async startService() {
      h.service = await start(config, log);
    },
    async stop() {
      await h.events.stop();
      await h.service.stop();
      await h.bus.close();
      await nats.dispose();
    },
  };
  return h;
}
