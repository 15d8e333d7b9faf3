/**
 * One service started in this process against its own nats-server (TLS, users), with a bus to
 * publish commands on and a recorder of the events it publishes: what each service's own tests
 * stand on. The service logs in as its own identity; the test's bus, which provisions the streams
 * and sends what the service is to handle, as the TESTER.
 */
import { connectBus, type Bus } from "@rvss/bus";
import { createLogger, type RunningService, type RvssConfig, type StartFn } from "@rvss/runtime";
import { EventRecorder } from "./events";
import type { NatsServer } from "./nats-server";
import { TESTER } from "./nats-users";
import type { ServiceName } from "./processes";
import { startServicesNats } from "./config";

export interface ServiceHarness {
  nats: NatsServer;
  /** The service's configuration (its own NATS identity). */
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
  name: ServiceName,
  filerConfig = "/nonexistent/filer.json",
): Promise<ServiceHarness> {
  const { nats, users, config: configOf } = await startServicesNats(filerConfig);
  const config = configOf(name);
  const log = createLogger("test", config);
  const bus = await connectBus(configOf(TESTER), "test", log);
  const h: ServiceHarness = {
    nats,
    config,
    bus,
    service: await start(config, log),
    events: await EventRecorder.start(nats.url, users),
    async startService() {
      h.service = await start(config, log);
    },
    async stop() {
      await h.events.stop();
      await h.service.stop();
      await h.bus.close();
      await nats.dispose();
      nats.assertNoViolations();
    },
  };
  return h;
}
