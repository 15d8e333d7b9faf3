import type { RvssConfig } from "@rvss/runtime";
import type { StorageBackend } from "./backend";
import { LatencyBackend, NullBackend } from "./latency";
import { LocalBackend } from "./local/local-backend";

/** The storage backend a service's configuration asks for (RVSS_STORAGE, RVSS_STORAGE_LATENCY). */
export function openBackend(config: Pick<RvssConfig, "storage" | "filerConfig" | "storageLatency">): StorageBackend {
  const base = config.storage === "null" ? new NullBackend() : LocalBackend.fromFile(config.filerConfig);
  return config.storageLatency ? new LatencyBackend(base, config.storageLatency) : base;
}
