// @rvss/storage: the storage backend interface and its implementations.
export * from "./backend";
export { LocalBackend, SHADOW_DIR, SNAPSHOT_DIR } from "./local/local-backend";
export {
  loadFilerConfig,
  parseFilerConfig,
  type FilerConfig,
  type ShareConfig,
  type SvmConfig,
  type VolumeConfig,
} from "./local/filer-config";
export { removeSealedTree } from "./local/fs-safe";
export { COW_MODES, type CowMode } from "./local/capabilities";
export { Samba, checkShareName } from "./local/samba";
export { LatencyBackend, NullBackend } from "./latency";
export { OntapBackend } from "./ontap/ontap-backend";
export { parseOntapConfig } from "./ontap/config";
export { SvmRouter, openBackend, openFiler } from "./open";
