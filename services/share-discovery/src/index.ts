/**
 * share-discovery: resolves shares to SVM, volume and path, walks them to check the Remote VSS
 * directory rules, and checks the listed files, for the sets the coordinator starts (ResolveShares)
 * and for callers that must answer now (the CheckShares query: the agent API, preflight). It keeps
 * no state; replicas share one durable consumer and one queue group.
 */
import { ErrorCodes, RvssError } from "@rvss/core";
import { serveCheckShares, startPhaseService } from "@rvss/bus";
import type { Logger, RunningService, RvssConfig } from "@rvss/runtime";
import { openBackend, type StorageBackend } from "@rvss/storage";
import { capViolations, checkShare, resolveShares } from "./resolve";

export { checkShare, resolveShares } from "./resolve";

export async function startShareDiscovery(
  config: RvssConfig,
  log: Logger,
  backend: StorageBackend = openBackend(config),
): Promise<RunningService> {
  const phase = await startPhaseService(config, log, {
    phase: "discovery",
    async handle(cmd, emit) {
      if (cmd.kind?.$case !== "resolveShares")
        throw new RvssError(ErrorCodes.INVALID_ARGUMENT, `unknown discovery command ${cmd.kind?.$case ?? "(none)"}`);
      const r = await resolveShares(backend, cmd.context?.svm ?? "", cmd.kind.value.shares);
      if (!r.ok)
        log.info(
          { setId: cmd.context?.setId, backupId: cmd.context?.backupId, svm: cmd.context?.svm },
          `shares rejected: ${r.reason}`,
        );
      await emit({
        body: r.ok
          ? { $case: "sharesResolved", value: { shares: r.shares } }
          : { $case: "sharesRejected", value: { reason: r.reason, violations: r.violations } },
      });
    },
  });
  // Each share on its own: rule 2 (a VM split across shares) is the caller's to apply over its request.
  const queries = serveCheckShares(phase.bus, log, async (req) => {
    const names = await backend.svmNames(req.svm);
    const checks = [];
    for (const sel of req.shares) checks.push(await checkShare(backend, req.svm, sel));
    return {
      checks: capViolations(checks),
      errorCode: "",
      errorMessage: "",
      svmFound: names !== null,
      svmNames: names ?? [],
    };
  });
  return {
    unready: phase.unready,
    async stop() {
      queries.stop();
      await phase.stop();
    },
  };
}
