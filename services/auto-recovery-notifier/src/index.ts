/**
 * auto-recovery-notifier: runs the conversation with application writers for each set. Before the
 * shadow copies are made it asks the writers of the set's shares to checkpoint (quiesce and mark
 * the point in time); once the copies exist it lets them thaw; after expose it asks them to
 * auto-recover their files inside the writable copies; at the end it tells them how the set ended.
 * With no writer registered for a share it records that and lets the set proceed.
 */
import { ErrorCodes, RvssError } from "@rvss/core";
import { startPhaseService, type PhaseResult } from "@rvss/bus";
import { WriterOutcome, type NotifierCommand, type WriterReport } from "@rvss/proto";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";
import { Writers, type SetContext } from "./conversation";

export async function startAutoRecoveryNotifier(config: RvssConfig, log: Logger): Promise<RunningService> {
  let writers: Writers | undefined;
  const t = config.writers;

  async function handle(cmd: NotifierCommand, emit: (r: PhaseResult) => Promise<void>): Promise<void> {
    const w = writers!;
    const ctx: SetContext = {
      svm: cmd.context?.svm ?? "",
      setId: cmd.context?.setId ?? "",
      backupId: cmd.context?.backupId ?? "",
    };
    const k = cmd.kind;
    const logReports = (step: string, reports: WriterReport[]): void => {
      for (const r of reports) {
        const fields = { ...ctx, step, writerId: r.writerId, writer: r.name, ms: r.elapsedMs, detail: r.detail };
        if (r.ok) log.info(fields, `writer ${r.name}: ${step} ok`);
        else log.warn({ ...fields, reason: r.reason }, `writer ${r.name}: ${step} failed: ${r.reason}`);
      }
    };
    switch (k?.$case) {
      case "checkpointWriters": {
        const shares = k.value.shares.map((s) => s.share);
        const found = await w.forShares(ctx.svm, shares);
        const reports = await Promise.all(
          found.map((reg) =>
            w.ask(
              reg,
              ctx,
              { $case: "checkpoint", value: { shares, freezeWindowMs: t.freezeWindowMs } },
              reg.checkpointTimeoutMs || t.checkpointMs,
            ),
          ),
        );
        const covered = new Set(found.flatMap((reg) => reg.shares.map((s) => s.share.toLowerCase())));
        const without = shares.filter((s) => !covered.has(s.toLowerCase()));
        if (without.length > 0)
          log.info(
            { ...ctx, shares: without },
            "no writer registered for these shares; proceeding without a checkpoint for them",
          );
        logReports("checkpoint", reports);
        return emit({
          body: { $case: "writersCheckpointed" as const, value: { writers: reports, sharesWithoutWriters: without } },
        });
      }
      case "thawWriters": {
        const regs = await w.byIds(k.value.writerIds);
        const reports = await Promise.all(
          k.value.writerIds.map((id) =>
            w.ask(regs.get(id) ?? { writerId: id, name: id }, ctx, { $case: "thaw", value: {} }, t.thawMs),
          ),
        );
        logReports("thaw", reports);
        return emit({ body: { $case: "writersThawed" as const, value: { writers: reports } } });
      }
      case "autoRecoverWriters": {
        const regs = await w.byIds(k.value.writerIds);
        const reports = await Promise.all(
          k.value.writerIds.map((id) => {
            const reg = regs.get(id);
            const owned = new Set(reg?.shares.map((s) => s.share.toLowerCase()) ?? []);
            const copies = k.value.shadowCopies
              .filter((c) => !reg || owned.has(c.share.toLowerCase()))
              .map((c) => ({
                share: c.share,
                shadowCopyId: c.shadowCopyId,
                exposedShare: `\\\\${ctx.svm}\\${c.exposedName}`,
                accessPath: c.accessPath,
                files: c.files,
              }));
            return w.ask(
              reg ?? { writerId: id, name: id },
              ctx,
              { $case: "autoRecover", value: { copies } },
              reg?.autoRecoverTimeoutMs || t.autoRecoverMs,
            );
          }),
        );
        const covered = new Set([...regs.values()].flatMap((reg) => reg.shares.map((s) => s.share.toLowerCase())));
        const without = k.value.shadowCopies.map((c) => c.share).filter((s) => !covered.has(s.toLowerCase()));
        logReports("auto-recover", reports);
        return emit({
          body: { $case: "writersRecovered" as const, value: { writers: reports, sharesWithoutWriters: without } },
        });
      }
      case "finishWriters": {
        const regs = await w.byIds(k.value.writerIds);
        const outcome = k.value.completed
          ? WriterOutcome.WRITER_OUTCOME_COMPLETED
          : WriterOutcome.WRITER_OUTCOME_ABORTED;
        const reports = await Promise.all(
          k.value.writerIds.map((id) =>
            w.ask(
              regs.get(id) ?? { writerId: id, name: id },
              ctx,
              { $case: "finish", value: { outcome, reason: k.value.reason } },
              t.finishMs,
            ),
          ),
        );
        logReports("finish", reports);
        return emit({
          body: { $case: "writersFinished" as const, value: { writers: reports, completed: k.value.completed } },
        });
      }
      default:
        throw new RvssError(ErrorCodes.INVALID_ARGUMENT, "notifier command without a kind");
    }
  }

  return startPhaseService(config, log, {
    phase: "notifier",
    handle: (cmd, emit) => handle(cmd, emit),
    prepare: async (bus) => {
      writers = await Writers.open(bus, t.ttlMs);
    },
  });
}
