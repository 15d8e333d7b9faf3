// @rvss/testkit: run rvss and its dependencies on one machine: a real nats-server, a sample filer,
// the services as processes. Used by the tests, `rvss demo` and `rvss up`.
export { findNatsServer, NatsServer, type NatsServerOptions } from "./nats-server";
export { freePort } from "./ports";
export { rvssFailure } from "./failure";
export {
  compareTrees,
  copiesLeft,
  createSampleFiler,
  createVmFiler,
  removeTree,
  sampleBytes,
  writableEntries,
  type SampleFiler,
  type VmFiler,
} from "./filer";
export {
  connectAs,
  provisionAs,
  serviceEntry,
  SERVICES,
  startRvss,
  startService,
  type RvssProcesses,
  type ServiceName,
  type ServiceProcess,
} from "./processes";
export { EventRecorder, type RecordedEvent } from "./events";
export { startServicesNats, testConfig, type ServicesNats } from "./config";
export { startSqliteWriterProcess, type SqliteWriterProcess } from "./sqlite-writer";
export { NatsCluster } from "./nats-cluster";
export { startServiceHarness, type ServiceHarness } from "./service-harness";
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
  projectFields,
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
export {
  ensurePki,
  issueCertificate,
  makeCa,
  PKI_IDENTITIES,
  principalOfIdentity,
  testPki,
  type CertPair,
  type Pki,
  type PkiIdentity,
} from "./pki";
export {
  TESTER,
  createNatsUsers,
  startSecureNats,
  testNatsUsers,
  type NatsUserName,
  type NatsUsers,
} from "./nats-users";
