/**
 * The durable model of one FSRVP server. rvss plays one FSRVP server per SVM, so everything MS-FSRVP
 * keeps per server (section 3.1.1) lives in one record per SVM, changed only by compare-and-set.
 * That makes every operation a single atomic write.
 */
import type { ErrorCode } from "../errors";
import type { VmFileList } from "../file-list";
import type { StepName } from "./steps";

/** ShadowCopySet.Status: exactly the six states of MS-FSRVP 3.1.1.2. */
export type ShadowCopySetStatus = "Started" | "Added" | "CreationInProgress" | "Committed" | "Exposed" | "Recovered";

/** MappedShare of MS-FSRVP: the base share and the name its shadow copy is exposed under. */
export interface MappedShare {
  /** Base share in UNC form, \\<svm>\<share>. */
  shareNameUnc: string;
  /** Bare exposed share name, share@{ShadowCopyId}. */
  shadowCopyShareName: string;
  isExposed: boolean;
}

export interface ShadowCopyRecord {
  id: string;
  /** Base share name. */
  share: string;
  volume: string;
  /** Share root inside the volume ("" for the volume root). */
  sharePath: string;
  /** Files to clone, relative to the share root; empty for the whole share. */
  files: string[];
  /** When the share was added to the set (epoch ms); GetShareMapping reports it as a FILETIME. */
  creationTimestamp: number;
  /** One mapping per shadow copy; null once DeleteShareMapping removed it. */
  mapping: MappedShare | null;
  /** Set by the storage backend when the copy exists. */
  clonePath?: string;
  /** Where the backend's clients reach the exposed copy (local backend: a directory). */
  accessPath?: string;
  bytes?: number;
  fileCount?: number;
}

export type OnWriterError = "fail" | "continue";

/** One writer's answer to one step of a set. */
export interface WriterStepRecord {
  step: "checkpoint" | "thaw" | "auto_recover" | "finish";
  writerId: string;
  name: string;
  ok: boolean;
  reason: string;
  detail: string;
  at: number;
  elapsedMs: number;
}

export interface PendingStep {
  kind: StepName;
  /** Counts how often this kind was started for the set; part of the command's message ID. */
  attempt: number;
  since: number;
  /**
   * A requestor's set only: the step's work finished on storage, and the FSRVP call that waits for
   * it (Commit, Expose, RecoveryComplete, or its retry) completes the operation. Until then the set
   * keeps the state the spec gives it (MS-FSRVP 3.1.4.5-7).
   */
  done?: boolean;
}

/** A snapshot a managed set takes (or took) of one volume. */
export interface SetSnapshot {
  volume: string;
  name: string;
  /** Epoch ms once the backend reported it; undefined while planned. */
  takenAt?: number;
  /** IDs of the set's shadow copies inside this volume. */
  shadowCopyIds: string[];
  /** The storage keeps no checksums of it (ONTAP): it is never verified, a restore checks sizes. */
  noChecksums?: true;
}

/** A share of a managed set as the requestor selected it. */
export interface RequestedShare {
  share: string;
  files: string[];
  /** The VMs the requestor named in the share, with their files (see layout.ts). */
  vms?: VmFileList[];
}

export interface BackupLink {
  backupId: string;
  /** Index of the set in the backup's plan. */
  index: number;
}

export interface ShadowCopySet {
  id: string;
  status: ShadowCopySetStatus;
  context: number;
  createdAt: number;
  /** Who drives the set: the caller's identity (peer address), or "backup:<id>" for managed backups. */
  client: string;
  backup?: BackupLink;
  /** Managed sets only: what the backup asked for, before share-discovery resolved it. */
  requested?: RequestedShare[];
  /** Managed sets only: what a writer failure does to the set. */
  onWriterError?: OnWriterError;
  /** The writers that took the checkpoint; only they are asked to thaw, recover and finish. */
  writers?: string[];
  /** Every writer answer so far, in order. */
  writerSteps?: WriterStepRecord[];
  shadowCopies: ShadowCopyRecord[];
  pending?: PendingStep;
  /** How often each kind of work was started, so a new attempt gets a new command ID. */
  attempts?: Partial<Record<StepName, number>>;
  /** The last asynchronous step that failed; an agent call waiting on it answers with this. */
  failure?: StepFailure;
  /** Managed sets only: one per volume holding shares of the set. */
  snapshots: SetSnapshot[];
  /** Managed sets only: the executor reported the copies and exposed shares removed. */
  copiesRemoved?: boolean;
}

export interface StepFailure {
  step: StepName | "removal";
  reason: string;
  code: ErrorCode;
  at: number;
}

/**
 * Storage that still has to be removed for sets (or shadow copies) FSRVP no longer knows: aborted,
 * expired, deleted, or finished managed sets. An entry leaves only when the backend confirmed removal,
 * so nothing is orphaned even if a process dies mid-way.
 */
export interface PendingRemoval {
  setId: string;
  backup?: BackupLink;
  outcome: "completed" | "aborted";
  reason: string;
  /** Stable error code for aborted sets; "" for completed ones. */
  code: ErrorCode | "";
  shadowCopies: ShadowCopyRecord[];
  /** Completed: the snapshots that are the backup (kept). Aborted: snapshots to delete. */
  snapshots: SetSnapshot[];
  /** IDs of the shadow copies the backend confirmed gone. */
  deletedCopies: string[];
  /** The writers to tell how the set ended, and what they answered during it. */
  writers?: string[];
  writerSteps?: WriterStepRecord[];
  /** Names of the snapshots the backend confirmed gone (aborted sets only). */
  deletedSnapshots: string[];
  attempt: number;
  since: number;
  /**
   * Storage that turned up after its set had ended (a copy finished late, or an orphan the reconciler
   * found): the set's end was reported before, or there never was a set.
   */
  leftover?: boolean;
  /** The last removal attempt failed for good; the reconciler starts a new one. */
  failure?: StepFailure;
  /**
   * The set ended while a storage step of it was still running: the removal waits for that step's
   * last report, so it removes what the step makes instead of racing it.
   */
  waitsFor?: { step: StepName; attempt: number };
}

/** A managed set waiting for its SVM (one set in creation per SVM). */
export interface QueuedSet {
  backup: BackupLink;
  shares: RequestedShare[];
  onWriterError?: OnWriterError;
  queuedAt: number;
}

/** The Message Sequence Timer (MS-FSRVP 3.1.2): one per server. */
export interface ArmedTimer {
  /** Identifies this arming; a fired timer whose generation is stale is ignored. */
  generation: number;
  deadline: number;
}

export interface SvmRecord {
  svm: string;
  contextSet: boolean;
  currentContext: number;
  /** ShadowCopyClientAddress: who set the context. */
  clientAddress: string | null;
  retryCount: number;
  timer: ArmedTimer | null;
  /** Last timer generation handed out (monotonic). */
  timerGeneration: number;
  /**
   * When the earliest timer message still in the RVSS_TIMERS queue is due. While it is due no later
   * than the timer, no new message is needed: when it comes, it waits again until the timer's deadline.
   */
  timerWakeAt?: number;
  /** GlobalShadowCopySetTable for this server, oldest first. */
  sets: ShadowCopySet[];
  removals: PendingRemoval[];
  queue: QueuedSet[];
}

export function emptySvmRecord(svm: string): SvmRecord {
  return {
    svm,
    contextSet: false,
    currentContext: 0,
    clientAddress: null,
    retryCount: 0,
    timer: null,
    timerGeneration: 0,
    sets: [],
    removals: [],
    queue: [],
  };
}

/**
 * An SVM record as read from the bucket. Records written before the vocabulary of 0.1 (which named
 * the pending removals `draining`) are read as they are now, so an existing RVSS_HOME keeps working.
 */
export function svmRecordFrom(stored: SvmRecord): SvmRecord {
  const legacy = stored as SvmRecord & { draining?: PendingRemoval[] };
  if (legacy.removals !== undefined && legacy.draining === undefined) return stored;
  const { draining, ...rest } = legacy;
  return { ...rest, removals: rest.removals ?? draining ?? [] };
}

/** Timer values (ms). 0 disables a timer. MS-FSRVP 4.1: 180 s and 1800 s. */
export interface TimerConfig {
  shortMs: number;
  longMs: number;
}

export const SPEC_TIMERS: TimerConfig = { shortMs: 180_000, longMs: 1_800_000 };

/** What an operation may depend on besides the record: the clock, ID generation, timer values. */
export interface Env {
  now: number;
  newId: () => string;
  timers: TimerConfig;
}

export type Effect =
  /** Publish the command for the set's pending work. */
  | { kind: "command"; setId: string }
  /** Tell the set's writers that the copies exist (they may resume writing). */
  | { kind: "thaw"; setId: string; writers: string[] }
  /** Publish the storage-removal command for a pending removal. */
  | { kind: "removal"; setId: string }
  | { kind: "started"; setId: string }
  | { kind: "added"; setId: string; shadowCopyIds: string[] }
  | { kind: "creationStarted"; setId: string }
  | { kind: "aborted"; setId: string; backup?: BackupLink; reason: string; code: ErrorCode }
  /** A pending removal is gone from storage: the set is finished for good. */
  | { kind: "finished"; entry: PendingRemoval };

/** What a decision does to an SVM: its next record and the effects the caller must carry out. */
export interface Change {
  /** The next record; the same object when nothing changed (no write needed). */
  record: SvmRecord;
  effects: Effect[];
}

/** An FSRVP operation's answer: the change, the HRESULT and the operation's value. */
export interface Outcome<T = undefined> extends Change {
  hresult: number;
  value?: T;
}
