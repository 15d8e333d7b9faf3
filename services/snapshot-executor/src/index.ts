/**
 * snapshot-executor: every storage side effect of rvss. Creates, exposes, seals and deletes shadow
 * copies, takes and deletes per-volume snapshots, restores. Replicas share one durable consumer.
 * It also answers the reconciler's StorageInventory query (what the storage holds). Before any
 * storage call, a command's targets are checked against the records (steps.checkTargets).
 */
import {
  backupVerificationKey,
  errorMessage,
  invalidArgument,
  parseSnapshotName,
  type SnapshotVerificationRecord,
} from "@rvss/core";
import { publishEvent, serveStorageInventory, startPhaseService, type Bus } from "@rvss/bus";
import type { ExecutorCommand } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";
import { openBackend, type StorageBackend } from "@rvss/storage";
import * as steps from "./steps";

type Kind = NonNullable<ExecutorCommand["kind"]>["$case"];
/** What a handler may need beside its command: whether this delivery is the last, the snapshot limit, the verifier. */
interface RunOptions {
  lastTry: boolean;
  maxSnapshots: number;
  verifier: steps.Verifier;
  /** Where directory restores may write (RVSS_RESTORE_ROOTS). */
  restoreRoots: readonly string[];
}

type Handler<K extends Kind> = (
  backend: StorageBackend,
  cmd: ExecutorCommand & { kind: Extract<ExecutorCommand["kind"], { $case: K }> },
  emit: steps.Emit,
  o: RunOptions,
) => Promise<void>;

/** One handler per executor command (the table of steps names which step each command is). */
const handlers: { [K in Kind]: Handler<K> } = {
  createShadowCopies: (b, c, emit, o) =>
    steps.createShadowCopies(b, svmOf(c), c.kind.value, emit, o.lastTry, o.maxSnapshots),
  exposeShadowCopies: (b, c, emit) => steps.exposeShadowCopies(b, svmOf(c), c.kind.value, emit),
  sealShadowCopies: (b, c, emit) => steps.sealShadowCopies(b, svmOf(c), c.kind.value, emit),
  finalizeShadowCopies: (b, c, emit, { verifier }) =>
    steps.finalizeShadowCopies(
      b,
      svmOf(c),
      { backupId: c.context?.backupId ?? "", setId: c.context?.setId ?? "" },
      c.kind.value,
      emit,
      (ref) => verifier.add(ref),
    ),
  deleteShadowCopies: (b, c, emit) => steps.deleteShadowCopies(b, svmOf(c), c.kind.value, emit),
  restoreFiles: (b, c, emit, o) => steps.restoreFiles(b, c.kind.value, emit, o.restoreRoots),
  deleteSnapshots: (b, c, emit) => steps.deleteSnapshots(b, svmOf(c), c.kind.value, emit),
};

function svmOf(cmd: ExecutorCommand): string {
  return cmd.context?.svm ?? "";
}

function run(backend: StorageBackend, cmd: ExecutorCommand, emit: steps.Emit, o: RunOptions): Promise<void> {
  if (!cmd.kind) throw invalidArgument("executor command without a kind");
  return (handlers[cmd.kind.$case] as Handler<Kind>)(backend, cmd as never, emit, o);
}

export async function startSnapshotExecutor(
  config: RvssConfig,
  log: Logger,
  backend: StorageBackend = openBackend(config),
): Promise<RunningService> {
  // Said once at start; a volume whose filesystem cannot do what it is configured for stops the start here.
  for (const c of (await backend.capabilities?.()) ?? [])
    log.info({ ...c }, `volume ${c.svm}/${c.volume} on ${c.filesystem}: cow ${c.cow}`);
  let bus: Bus | undefined;
  const verifier = new steps.Verifier(
    backend,
    async (ref, v) => {
      const e = steps.verificationEvent(ref, v);
      if (e) await publishEvent(bus!, e);
    },
    (ref, err) => log.warn({ ...ref, err: errorMessage(err) }, `snapshot ${ref.name} could not be verified`),
  );
  const phase = await startPhaseService(config, log, {
    phase: "executor",
    prepare: async (b) => {
      bus = b;
    },
    async handle(cmd, emit, d) {
      await steps.checkTargets(backend, bus!.state, cmd);
      return run(backend, cmd, emit, {
        lastTry: d.deliveryCount >= config.maxDeliver,
        maxSnapshots: config.maxSnapshotsPerVolume,
        verifier,
        restoreRoots: config.restoreRoots,
      });
    },
    failure: (cmd, err) =>
      cmd.kind?.$case === "restoreFiles" ? steps.restoreFailed(cmd.kind.value.restoreId, err).body : undefined,
  });
  const inventory = serveStorageInventory(phase.bus, log, (req) => steps.storageInventory(backend, req.svms));
  void verifier
    .sweep([], async (ref) => {
      const parts = parseSnapshotName(ref.name);
      if (!parts) return true;
      const key = backupVerificationKey(parts.backupId, parts.setId, ref.volume);
      return (await phase.bus.state.get<SnapshotVerificationRecord>(key))?.value.state === "verified";
    })
    .catch((err: unknown) => log.warn({ err: errorMessage(err) }, "verification sweep failed"));
  void backend
    .finishRemovals?.()
    .catch((err: unknown) => log.warn({ err: errorMessage(err) }, "removing deleted copies failed"));
  const storage = watchStorage(backend, log);
  return {
    unready: () => phase.unready() ?? storage.problem(),
    async stop() {
      storage.stop();
      inventory.stop();
      await verifier.stop();
      await phase.stop();
    },
  };
}

const PROBE_INTERVAL_MS = 5_000;

/** Probes the backend every few seconds: a replica whose storage fails takes no traffic (readiness). */
function watchStorage(backend: StorageBackend, log: Logger): { problem(): string | null; stop(): void } {
  let problem: string | null = null;
  const probe = async (): Promise<void> => {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${PROBE_INTERVAL_MS} ms`)), PROBE_INTERVAL_MS).unref(),
    );
    const was = problem;
    problem = await Promise.race([backend.probe?.(), timeout]).then(
      () => null,
      (err: unknown) => `storage (${backend.kind}) fails: ${errorMessage(err)}`,
    );
    if (problem !== was) {
      if (problem) log.error({ storage: backend.kind }, problem);
      else log.info({ storage: backend.kind }, "storage answers again");
    }
  };
  void probe();
  const timer = setInterval(() => void probe(), PROBE_INTERVAL_MS);
  return { problem: () => problem, stop: () => clearInterval(timer) };
}
