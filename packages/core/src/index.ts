/**
 * @rvss/core: the pure core of rvss. State machines, naming and rules; no I/O. Its one dependency
 * is croner, which computes cron ticks (pure as well).
 * This file names the public surface; helpers that only core uses stay inside their modules.
 */

// Errors: one class with a closed set of codes, and its FSRVP kind carrying the HRESULT.
export {
  ErrorCodes,
  errorMessage,
  FsrvpError,
  invalidArgument,
  isFsrvpError,
  isPermanent,
  isRvssError,
  RvssError,
  toErrorCode,
  type ErrorCode,
  type ErrorDetails,
} from "./errors";

// Names: UNC paths, GUIDs, subject tokens, snapshot names.
export {
  exposedShareName,
  formatUnc,
  isGuid,
  normaliseGuid,
  parseSnapshotName,
  parseUnc,
  snapshotName,
  svmNameProblem,
  toFileTime,
  token,
  type SnapshotNameParts,
  type UncPath,
} from "./naming";

// Every name on the wire: subjects, streams, consumers, KV keys, message IDs.
export {
  BACKUP_KEYS,
  backupCreatedEventId,
  backupDeletedEventId,
  snapshotVerificationEventId,
  backupNameKey,
  COLLECTOR_KEY,
  deleteSnapshotCommandId,
  deleteSnapshotsCommandId,
  restoreIdOf,
  SCHEDULE_KEYS,
  scheduleEventSubject,
  scheduleKey,
  scheduleTickedEventId,
  scheduledBackupId,
  backupEventSubject,
  backupEventsOfType,
  backupFinishedEventId,
  backupIdOf,
  backupKey,
  backupSetKey,
  backupSetKeys,
  backupVerificationKey,
  backupVerificationKeys,
  backupStatusKey,
  CHECK_SHARES_SUBJECT,
  COMMAND_STREAMS,
  commandSubject,
  commandSubjects,
  COORDINATOR_EVENTS_CONSUMER,
  COORDINATOR_TIMERS_CONSUMER,
  creationStartedEventId,
  deadLetterId,
  DLQ_STREAM,
  AUDIT_STREAM,
  AUDIT_SUBJECTS,
  auditSubject,
  DLQ_SUBJECTS,
  dlqSubject,
  EVENT_SUBJECTS,
  EVENTS_STREAM,
  eventSubjectType,
  finishCommandId,
  isSetOrBackupEventSubject,
  PHASE_CONSUMERS,
  PLANNER_KEY,
  reconcileEventId,
  removalCommandId,
  reportsCommand,
  requestKey,
  restoreCommandId,
  restoreKey,
  RESTORE_KEYS,
  resultEventId,
  setAbortedEventId,
  setCompletedEventId,
  setEventSubject,
  setEventsOfType,
  setStartedEventId,
  sharesAddedEventId,
  snake,
  STATE_BUCKET,
  stepCommandId,
  stepFailedType,
  STORAGE_INVENTORY_SUBJECT,
  subjectTemplate,
  SVM_KEYS,
  svmEventsSubject,
  systemEventsOfType,
  WRITER_SUBJECTS,
  svmKey,
  systemEventSubject,
  thawCommandId,
  TIMER_SUBJECTS,
  timerMessageId,
  timerSubject,
  TIMERS_STREAM,
  writerKey,
  writerKeyParts,
  writerKeys,
  WRITER_KEYS,
  writerSubject,
  writerSubjects,
  WRITERS_BUCKET,
} from "./wire";

// The Remote VSS directory rules and the file list.
export {
  checkFileList,
  checkSelectionFiles,
  type CheckedFileList,
  type FileListProblem,
  type FileListRule,
  type VmFileList,
} from "./file-list";
export {
  kindName,
  LayoutTally,
  MAX_LISTED_VIOLATIONS,
  notRegular,
  shareVms,
  withSplitVms,
  type CheckedShareVms,
  type EntryKind,
  type LayoutEntry,
  type LayoutOptions,
  type LayoutRule,
  type LayoutViolation,
  type ShareVms,
  type SplitVmViolation,
  type VmInShare,
} from "./layout";

// The FSRVP server: the SVM record, the thirteen operations, the timer.
export {
  emptySvmRecord,
  svmRecordFrom,
  type ArmedTimer,
  type BackupLink,
  type Change,
  type Effect,
  type Env,
  type MappedShare,
  type OnWriterError,
  type Outcome,
  type PendingRemoval,
  type PendingStep,
  type QueuedSet,
  type RequestedShare,
  type SetSnapshot,
  type ShadowCopyRecord,
  type ShadowCopySet,
  type ShadowCopySetStatus,
  type StepFailure,
  type SvmRecord,
  type TimerConfig,
  type WriterStepRecord,
} from "./fsrvp/types";
export {
  managedSetEvents,
  managedSteps,
  PHASE_SERVICES,
  phaseOfFailure,
  phaseOfService,
  STEPS,
  stepOfCommand,
  stepOfFailure,
  stepsReportedBy,
  type Phase,
  type StepKey,
  type StepName,
  type StepSpec,
} from "./fsrvp/steps";
export { describeHResult, HRESULT, type HResultName } from "./fsrvp/hresult";
export { isAutoRecovery } from "./fsrvp/context";
export {
  abortShadowCopySet,
  addToShadowCopySet,
  commitBegin,
  deleteShareMapping,
  exposeBegin,
  getShareMapping,
  getSupportedVersion,
  isPathShadowCopied,
  isPathSupported,
  prepareShadowCopySet,
  recoveryCompleteBegin,
  refuseCaller,
  setContext,
  startShadowCopySet,
  waitTimedOut,
  type AgentCaller,
  type CreatedCopy,
  type ShareLookup,
  type ShareMappingInfo,
} from "./fsrvp/operations";
export { findSet, forgetsUnknownSvm, holdsNothing, holdsSet } from "./fsrvp/record";
export { remainingStorage } from "./fsrvp/removal";
export { scheduleTimerMessage, timerMessageDue } from "./fsrvp/timer";

// Managed sets: how the phases' reports move a set on, and the reconciler's decisions.
export {
  applyReport,
  cancelManagedSet,
  enqueueManagedSet,
  queuePosition,
  startQueuedSet,
  type ReportOutcome,
  type StepReport,
} from "./fsrvp/pipeline";
export {
  adoptOrphans,
  findOrphans,
  knownSnapshots,
  noOrphans,
  retryFailedRemovals,
  retryLostCommand,
  retryLostRemoval,
  stopWaitingForLostStep,
  type Orphans,
  type SvmStorage,
} from "./fsrvp/reconcile";

// Managed backups and the planner across SVMs.
export {
  assembleBackup,
  checkDataset,
  checkDatasetShares,
  isFinal,
  markCancelRequested,
  MAX_SHARES_PER_SET,
  newBackup,
  progressOf,
  recordSetEnd,
  snapshotsOf,
  type BackupCounts,
  type BackupPlan,
  type BackupRecord,
  type BackupSetView,
  type BackupShadowCopy,
  type BackupSnapshot,
  type BackupStateName,
  type BackupStatus,
  type DatasetShare,
  type Deletion,
  type PlannedSet,
  type PlanPhase,
  type SetResult,
} from "./backup";
export {
  admitBackup,
  emptyPlanner,
  finishSet,
  isAdmitted,
  isReleased,
  releaseSets,
  waitingPosition,
  withdrawBackup,
  type PlannedBackup,
  type PlannerState,
} from "./planner";
export {
  backupFigures,
  restoreFigures,
  svmOutcomes,
  type BackupFigures,
  type RestoreFigures,
  type RestoreRun,
  type SvmOutcome,
} from "./outcomes";
export { mapLimit } from "./concurrency";

// Backup lifecycle: names and labels, retention, deletion, schedules.
export { checkLabels, checkName, matchesSelector, parseSelector, resolveBackupRef, type Requirement } from "./labels";
export {
  checkRetention,
  collect,
  expiresAt,
  parseTtl,
  type Collection,
  type RetainedBackup,
  type Retention,
  type Verdict,
} from "./retention";
export { checkSnapshotRoom, confirmSnapshotsDeleted, snapshotsBySvm, startDeletion } from "./deletion";
export {
  checkScheduleSpec,
  decideTick,
  MAX_SCHEDULE_NAME,
  nextTick,
  recordRunNow,
  scheduledBackupName,
  setPaused,
  ticksIn,
  type Schedule,
  type ScheduleSpec,
  type TickDecision,
  type TickRecord,
} from "./schedule";
// Access: roles, the policy of every gRPC method, and the principals of a policy file.
export {
  authorize,
  METHOD_POLICIES,
  methodsWithoutPolicy,
  parsePolicy,
  ROLES,
  uriSanOf,
  type Decision,
  type MethodPolicy,
  type Policy,
  type Role,
} from "./authz";

// Caps on what one request may name.
export { checkRequestLimits, type RequestLimits } from "./limits";

// NATS least privilege: each identity's permissions, derived from the wire names.
export {
  inboxPrefixOf,
  NATS_IDENTITIES,
  natsAuthorization,
  natsPermissions,
  natsUsers,
  phaseEventTypes,
  SERVICE_IDENTITIES,
  svmReaderPermissions,
  writerIdentity,
  writerPermissions,
  parseWriterGrant,
  type NatsIdentity,
  type NatsPermissions,
  type NatsUser,
  type ServiceIdentity,
  type WriterIdentity,
  type WriterGrant,
} from "./nats-permissions";

// The executor's check of a command against the SVM record, before any storage call.
export {
  checkCopiesOfSet,
  checkCopyNames,
  checkRemoval,
  checkSnapshotDeletion,
  checkSnapshotNames,
  type CopyTarget,
  type SnapshotTarget,
} from "./fsrvp/targets";

// Where restores may write.
export { checkRestoreTarget, restoreTargetProblem } from "./restore-roots";

// Snapshots' restore verification as the coordinator keeps it.
export { nextVerification, type SnapshotVerificationRecord, type VerificationStateName } from "./verification";
