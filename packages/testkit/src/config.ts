import * as os from "node:os";
import { loadConfig, type RvssConfig } from "@rvss/runtime";
import { testPki } from "./pki";

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
