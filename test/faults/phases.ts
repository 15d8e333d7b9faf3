/**
 * Holding a phase of a set open, deterministically and without mocks: the service that does the
 * phase is frozen (SIGSTOP) before its command is published, so the command waits in its work queue
 * (or in the frozen process) while the fault is injected.
 *
 * To move from one held phase to the next, the coordinator is frozen first (so it cannot act on the
 * result yet), the previous phase's service is thawed until its result is in the event stream,
 * the next phase's service is frozen, and the coordinator is thawed to publish the next command.
 */
import * as fs from "node:fs";
import { Kvm } from "@nats-io/kv";
import {
  COMMAND_STREAMS,
  PHASE_SERVICES,
  STATE_BUCKET,
  STEPS,
  commandSubject,
  managedSteps,
  svmKey,
  type Phase as BusPhase,
  type StepName,
  type SvmRecord,
} from "@rvss/core";
import type { ServiceName } from "@rvss/testkit";
import { until, type FaultSystem } from "./system";

/** The phases of a managed set with writers; finalize seals, takes a snapshot per volume and removes the copies. */
export const PHASES = managedSteps(true);
export type Phase = StepName;

interface PhaseInfo {
  owner: ServiceName;
  bus: BusPhase;
  /** The command's kind (oneof case), which names its subject. */
  kind: string;
  /** The event that reports the phase done (finalize's first). */
  result: string;
}

export const PHASE = Object.fromEntries(
  PHASES.map((k): [Phase, PhaseInfo] => [
    k,
    {
      owner: PHASE_SERVICES[STEPS[k].phase],
      bus: STEPS[k].phase,
      kind: STEPS[k].command,
      result: STEPS[k].reports[0],
    },
  ]),
) as Record<Phase, PhaseInfo>;

export interface HeldSet {
  svm: string;
  backupId: string;
  setId: string;
}

/** The message ID of the phase's command in its work queue, or "" when none is there (never sent, or acked). */
async function queuedCommand(sys: FaultSystem, svm: string, phase: Phase): Promise<string> {
  const p = PHASE[phase];
  try {
    const m = await sys.jsm.streams.getMessage(COMMAND_STREAMS[p.bus], {
      last_by_subj: commandSubject(p.bus, svm, p.kind),
    });
    return m?.header.get("Nats-Msg-Id") ?? "";
  } catch {
    return "";
  }
}

/** Resolves with the set's ID once its record asks for `phase` and the command is in the phase's work queue. */
async function commandQueued(sys: FaultSystem, held: Omit<HeldSet, "setId">, phase: Phase): Promise<string> {
  const commandPrefix = await until(`the record of ${held.svm} to ask for ${phase}`, async () => {
    const rec = await sys.svm(held.svm);
    const set = rec?.sets.find((s) => s.backup?.backupId === held.backupId);
    return set?.pending?.kind === phase ? `${set.id}:${phase}:${set.pending.attempt}` : undefined;
  });
  await until(`the ${phase} command in its work queue`, async () =>
    (await queuedCommand(sys, held.svm, phase)).startsWith(commandPrefix) ? true : undefined,
  );
  return commandPrefix.split(":")[0]!;
}

/**
 * Starts a backup of `svm` and holds it at `phase`: the command published, the phase's service
 * frozen. Without a writer on the SVM there is no recover phase.
 */
export async function holdAt(
  sys: FaultSystem,
  svm: string,
  phase: Phase,
  dataset: { svm: string; share: string; files: string[] }[],
  o: { writers: boolean } = { writers: true },
): Promise<HeldSet> {
  const phases: readonly Phase[] = o.writers ? PHASES : PHASES.filter((p) => p !== "auto_recover");
  sys.services[PHASE.resolve.owner].pause();
  const b = await sys.client.createBackup({ dataset });
  let setId = await commandQueued(sys, { svm, backupId: b.id }, "resolve");
  for (let i = 1; i <= phases.indexOf(phase); i++) {
    const prev = PHASE[phases[i - 1]!];
    sys.services.coordinator.pause();
    sys.services[prev.owner].resume();
    await until(`${prev.result} of set ${setId}`, async () =>
      sys.events.of(setId).some((e) => e.event.body?.$case === prev.result) ? true : undefined,
    );
    // Every result of the command is out once it is acked (a snapshot command reports each volume).
    await until(`the ${phases[i - 1]} command of set ${setId} to be acked`, async () =>
      (await queuedCommand(sys, svm, phases[i - 1]!)).startsWith(setId) ? undefined : true,
    );
    sys.services[PHASE[phases[i]!].owner].pause();
    sys.services.coordinator.resume();
    setId = await commandQueued(sys, { svm, backupId: b.id }, phases[i]!);
  }
  return { svm, backupId: b.id, setId };
}

/**
 * Arms a trigger that fires when `service` visibly works on `phase` of the set on `svm`:
 *   - coordinator: its compare-and-set that asks for the phase landed (it is about to publish what
 *     the decision asks for);
 *   - auto-recovery-notifier: a writer of the set is being asked (`writerAsked` is called by the writer);
 *   - snapshot-executor: the first change on the SVM's storage (a clone, snapshot or exposed share);
 *   - share-discovery, which changes nothing: its result is in the event stream (acked or not).
 * `armed` resolves once it watches; `fired` when it fired; `stop` disarms it.
 */
export function midStepTrigger(
  sys: FaultSystem,
  svm: string,
  service: ServiceName,
  phase: Phase,
  o: { storageDirs: string[]; writerAsked: { fire?: () => void } },
): { armed: Promise<void>; fired: Promise<void>; stop(): void } {
  let fire!: () => void;
  const fired = new Promise<void>((resolve) => (fire = resolve));
  const stops: (() => void)[] = [];
  let armed = Promise.resolve();
  if (service === "coordinator") {
    const watching = (async () => {
      const kv = await new Kvm(sys.nc).open(STATE_BUCKET);
      const watch = await kv.watch({ key: svmKey(svm) });
      stops.push(() => watch.stop());
      return watch;
    })();
    armed = watching.then(() => undefined);
    void watching.then(async (watch) => {
      for await (const e of watch) {
        if (e.operation !== "PUT") continue;
        const rec = e.json<SvmRecord>();
        if (rec.sets.some((s) => s.pending?.kind === phase)) fire();
      }
    });
  } else if (service === "auto-recovery-notifier") {
    o.writerAsked.fire = fire;
    stops.push(() => delete o.writerAsked.fire);
  } else if (service === "snapshot-executor") {
    for (const d of o.storageDirs) {
      const w = fs.watch(d, () => fire());
      stops.push(() => w.close());
    }
  } else {
    void sys.events
      .waitFor((e) => e.event.svm === svm && e.event.body?.$case === PHASE[phase].result, 60_000)
      .then(fire, () => undefined);
  }
  return { armed, fired, stop: () => stops.forEach((s) => s()) };
}
