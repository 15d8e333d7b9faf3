import * as os from "node:os";
import { loadConfig, type RvssConfig } from "@rvss/runtime";
import type { NatsServer } from "./nats-server";
import { startSecureNats, type NatsUserName, type NatsUsers } from "./nats-users";
import { testPki } from "./pki";
import { provisionAs } from "./processes";

/** Configuration for services started inside a test: short timeouts, the test PKI's mTLS, restores under the temporary directory. */
export function testConfig(natsUrl: string, filerConfig: string, overrides: Record<string, string> = {}): RvssConfig {
  return loadConfig({
    NATS_URL: natsUrl,
    RVSS_FILER_CONFIG: filerConfig,
    RVSS_GRPC_ADDR: "127.0.0.1:0",
    RVSS_ACK_WAIT_MS: "5000",
    RVSS_MAX_DELIVER: "3",
    RVSS_LOG_LEVEL: "silent",
    RVSS_RESTORE_ROOTS: os.tmpdir(),
    ...testPki().serverEnv(),
    ...overrides,
  });
}

export interface ServicesNats {
  nats: NatsServer;
  users: NatsUsers;
  /** testConfig for a service (or the TESTER) logging in as itself, with the given overrides. */
  config(name: NatsUserName): RvssConfig;
}

/**
 * NATS for services started inside a test, as a deployment has it: `startSecureNats`, the streams
 * made by the provisioner, and a configuration per identity, so each service runs under its own
 * permissions.
 */
export async function startServicesNats(
  filerConfig: string,
  overrides: Record<string, string> = {},
  dir?: string,
): Promise<ServicesNats> {
  const { nats, users } = await startSecureNats(dir);
  await provisionAs(users, { NATS_URL: nats.url, RVSS_FILER_CONFIG: filerConfig, ...overrides });
  return {
    nats,
    users,
    config: (name) => testConfig(nats.url, filerConfig, { ...overrides, ...users.env(name) }),
  };
}
