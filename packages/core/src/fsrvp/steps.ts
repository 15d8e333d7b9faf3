/**
 * The one table of steps. A step is work a phase does for a set, asked for by one command and
 * reported by events. The coordinator's commands, the pipeline's expectations, the executor's and
 * the notifier's dispatch, the failure codes on the wire and the tests' event lists all derive from
 * it. Adding a step is one entry here, its command body in the coordinator and its handler in the
 * phase that owns it.
 *
 * Names on the wire stay as the protos have them: `command` is the case of the phase's command
 * oneof (commands.proto), `reports` are cases of the Event body oneof (events.proto) and `failure`
 * is the `Step` enum value a StepFailed event carries.
 */

/** The three phases that do work for the coordinator, each one service and one work queue. */
export type Phase = "discovery" | "executor" | "notifier";

/** The service that owns each phase (its durable consumer, its events' source). */
export const PHASE_SERVICES = {
  discovery: "share-discovery",
  executor: "snapshot-executor",
  notifier: "auto-recovery-notifier",
} as const satisfies Record<Phase, string>;

export interface StepSpec {
  phase: Phase;
  /** The command's case in the phase's command oneof. */
  command: string;
  /** Events that report the step's results, in the order they usually come. */
  reports: readonly string[];
  /** The `Step` enum value that names the step in a StepFailed event; none for work whose failure ends nothing. */
  failure?: string;
  /**
   * True for a step a set waits for (its `pending` step); false for work sent beside the set's
   * progress (the writers' thaw and finish, removals, restores).
   */
  awaited: boolean;
  /** What bounds the step: the writers' own timeouts, or the command's ack wait and redeliveries. */
  timeout: "writer timeouts" | "ack wait";
  /** Shown as a running set's stage while the step is pending. */
  stage: string;
  /** The coordinator's own events published when the step begins. */
  announced?: readonly string[];
  /** Events of `reports` that come once per volume of the set rather than once per set. */
  perVolume?: readonly string[];
  /** True for a long step that publishes StepProgress events while it runs (clones, restored copies). */
  progress?: boolean;
  /** The event that reports the step refused its input (the set fails with it, not with a StepFailed). */
  rejection?: string;
  /**
   * Events the phase publishes about the step's results after the step ended, on its own schedule;
   * no set waits for them (the snapshots' verification).
   */
  later?: readonly string[];
}

export const STEPS = {
  resolve: {
    phase: "discovery",
    command: "resolveShares",
    reports: ["sharesResolved"],
    failure: "STEP_RESOLVE",
    awaited: true,
    timeout: "ack wait",
    stage: "resolving shares",
    announced: ["setStarted"],
    rejection: "sharesRejected",
  },
  checkpoint: {
    phase: "notifier",
    command: "checkpointWriters",
    reports: ["writersCheckpointed"],
    failure: "STEP_CHECKPOINT",
    awaited: true,
    timeout: "writer timeouts",
    stage: "checkpointing writers",
    announced: ["sharesAdded"],
  },
  create: {
    phase: "executor",
    command: "createShadowCopies",
    reports: ["shadowCopiesCreated"],
    failure: "STEP_CREATE",
    awaited: true,
    timeout: "ack wait",
    stage: "creating shadow copies",
    announced: ["creationStarted"],
    progress: true,
  },
  expose: {
    phase: "executor",
    command: "exposeShadowCopies",
    reports: ["shadowCopiesExposed"],
    failure: "STEP_EXPOSE",
    awaited: true,
    timeout: "ack wait",
    stage: "exposing shadow copies",
  },
  auto_recover: {
    phase: "notifier",
    command: "autoRecoverWriters",
    reports: ["writersRecovered"],
    failure: "STEP_AUTO_RECOVER",
    awaited: true,
    timeout: "writer timeouts",
    stage: "waiting for writers to auto-recover",
  },
  /** RecoveryComplete of a requestor's set: the copies become read-only. */
  seal: {
    phase: "executor",
    command: "sealShadowCopies",
    reports: ["shadowCopiesSealed"],
    failure: "STEP_SEAL",
    awaited: true,
    timeout: "ack wait",
    stage: "sealing shadow copies",
  },
  /** A managed set's end, one command: seal the copies, take one snapshot per volume, remove the copies. */
  finalize: {
    phase: "executor",
    command: "finalizeShadowCopies",
    reports: ["shadowCopiesSealed", "snapshotTaken", "shadowCopiesDeleted"],
    failure: "STEP_FINALIZE",
    awaited: true,
    timeout: "ack wait",
    stage: "sealing, taking snapshots, removing shadow copies",
    perVolume: ["snapshotTaken"],
    later: ["snapshotVerification"],
  },
  /** The copies exist: the writers may resume writing (the set goes on exposing meanwhile). */
  thaw: {
    phase: "notifier",
    command: "thawWriters",
    reports: ["writersThawed"],
    awaited: false,
    timeout: "writer timeouts",
    stage: "",
  },
  /** The writers are told how their set ended. */
  finish: {
    phase: "notifier",
    command: "finishWriters",
    reports: ["writersFinished"],
    awaited: false,
    timeout: "writer timeouts",
    stage: "",
  },
  /** A pending removal: copies, exposed shares and (aborted sets') snapshots go from storage. */
  removal: {
    phase: "executor",
    command: "deleteShadowCopies",
    reports: ["shadowCopiesDeleted"],
    failure: "STEP_DELETE",
    awaited: false,
    timeout: "ack wait",
    stage: "deleting shadow copies",
  },
  /** A deleted backup's snapshots (or one no backup owns) go from storage; a gone snapshot is no error. */
  delete_snapshots: {
    phase: "executor",
    command: "deleteSnapshots",
    reports: ["snapshotsDeleted"],
    failure: "STEP_DELETE_SNAPSHOTS",
    awaited: false,
    timeout: "ack wait",
    stage: "",
  },
  restore: {
    phase: "executor",
    command: "restoreFiles",
    reports: ["restoreFinished"],
    failure: "STEP_RESTORE",
    awaited: false,
    timeout: "ack wait",
    stage: "",
    progress: true,
  },
} as const satisfies Record<string, StepSpec>;

export type StepKey = keyof typeof STEPS;

/** The steps a set waits for: what its `pending` names. */
export type StepName = { [K in StepKey]: (typeof STEPS)[K]["awaited"] extends true ? K : never }[StepKey];

/** The steps a managed set goes through, in order (auto-recovery only when writers took the checkpoint). */
export function managedSteps(writers: boolean): StepName[] {
  return ["resolve", "checkpoint", "create", "expose", ...(writers ? (["auto_recover"] as const) : []), "finalize"];
}

/** The steps whose results an event reports while the step is pending. */
export function stepsReportedBy(event: string): StepName[] {
  return (Object.keys(STEPS) as StepKey[]).filter(
    (k): k is StepName => STEPS[k].awaited && (STEPS[k].reports as readonly string[]).includes(event),
  );
}

/** The step a command case asks for. */
export function stepOfCommand(command: string): StepKey | undefined {
  return (Object.keys(STEPS) as StepKey[]).find((k) => STEPS[k].command === command);
}

/** The phase a service works for (its name is an event's `source`), or null for the coordinator and others. */
export function phaseOfService(service: string): Phase | null {
  return (Object.keys(PHASE_SERVICES) as Phase[]).find((p) => PHASE_SERVICES[p] === service) ?? null;
}

/** The phase whose step a StepFailed event's `Step` enum value names, or null for none. */
export function phaseOfFailure(failure: string): Phase | null {
  const k = stepOfFailure(failure);
  return k ? STEPS[k].phase : null;
}

/** The step a StepFailed event's `Step` enum value names. */
export function stepOfFailure(failure: string): StepKey | undefined {
  return (Object.keys(STEPS) as StepKey[]).find((k) => (STEPS[k] as StepSpec).failure === failure);
}

/**
 * Every event of a completed managed set, in order: what the coordinator announces as each step
 * begins, what the step reports (per-volume events once per volume), then the set's completion.
 */
export function managedSetEvents(o: { writers: boolean; volumes: number }): string[] {
  const spec = (k: StepName): StepSpec => STEPS[k];
  return [
    ...managedSteps(o.writers).flatMap((k) => [
      ...(spec(k).announced ?? []),
      ...spec(k).reports.flatMap((r) => (spec(k).perVolume?.includes(r) ? Array<string>(o.volumes).fill(r) : [r])),
    ]),
    "setCompleted",
  ];
}
