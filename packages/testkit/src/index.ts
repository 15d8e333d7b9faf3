// @rvss/testkit: run rvss and its dependencies on one machine: a real nats-server, a sample filer,
// the services as processes. Used by the tests, `rvss demo` and `rvss up`.
export * from "./nats-server";
export * from "./ports";
export * from "./filer";
export * from "./processes";
export * from "./events";
export * from "./config";
export * from "./sqlite-writer";
export * from "./nats-cluster";
export * from "./service-harness";
export {
  btrfsReadOnly,
  btrfsSubvolume,
  loopFsUnavailable,
  mountLoopFs,
  sharedBytes,
  usedBytes,
  type LoopFs,
  type LoopFsKind,
} from "./loop-fs";
export { smbdUnavailable, startSmbd, type SmbSession, type Smbd } from "./smbd";
export {
  FakeOntap,
  fillSampleShare,
  makeTestPki,
  queryMatches,
  SAMPLE_VM_FILES,
  sampleOntapSvm,
  startOntapFiler,
  type FakeAcl,
  type FakeCall,
  type FakeLatency,
  type FakeSvmSpec,
  type Fault,
  type OntapFiler,
  type OntapFilerOptions,
  type TestPki,
} from "./ontap-fake";
