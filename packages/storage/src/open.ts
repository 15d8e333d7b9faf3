import type { StorageBackend } from "./backend";
import { LatencyBackend, NullBackend, type LatencyProfile } from "./latency";
import { LocalBackend } from "./local/local-backend";

export interface BackendChoice {
  /** "local" (real files) or "null" (benchmarks only). */
  kind: "local" | "null";
  filerConfig: string;
  /** Per-operation delays to add, for benchmarks; null for none. */
  latency: LatencyProfile | null;
}

/** The storage backend a service's configuration asks for. */
export function openBackend(choice: BackendChoice): StorageBackend {
  const base = choice.kind === "null" ? new NullBackend() : LocalBackend.fromFile(choice.filerConfig);
  return choice.latency ? new LatencyBackend(base, choice.latency) : base;
}
