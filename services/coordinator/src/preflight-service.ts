/**
 * gRPC PreflightService: checks shares before a backup window through share-discovery's CheckShares
 * query, so it runs exactly the checks a set runs before anything is cloned. For a dataset it also
 * checks that no VM has files in two of its shares, across SVMs too. Nothing is cloned or changed.
 */
import { checkDatasetShares, invalidArgument, withSplitVms } from "@rvss/core";
import { checkShares, type Bus } from "@rvss/bus";
import type { PreflightServiceServer, ShareCheck, ShareSelection } from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import { remaining, unary } from "./grpc";

/** A large share takes a while to walk; callers without a deadline wait this long. */
const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export function preflightService(deps: { bus: Bus; log: Logger }): PreflightServiceServer {
  const { bus, log } = deps;

  /** One CheckShares query per SVM, the SVMs at once; the checks come back in dataset order. */
  async function check(dataset: ShareSelection[], timeoutMs: number): Promise<ShareCheck[]> {
    const items = checkDatasetShares(dataset);
    const svms = [...new Set(items.map((d) => d.svm))];
    const answers = new Map(
      await Promise.all(
        svms.map(
          async (svm) =>
            [
              svm,
              (await checkShares(bus, { svm, shares: items.filter((d) => d.svm === svm) }, timeoutMs)).checks,
            ] as const,
        ),
      ),
    );
    return items.map((d) => answers.get(d.svm)!.shift()!);
  }

  return {
    validateShare: unary(log, "ValidateShare", async (req, call) => {
      if (!req.share) throw invalidArgument("ValidateShare needs a share: svm and share");
      const [c] = await check([req.share], remaining(call, DEFAULT_TIMEOUT_MS));
      return { check: c };
    }),
    validateDataset: unary(log, "ValidateDataset", async (req, call) => ({
      checks: withSplitVms(await check(req.dataset, remaining(call, DEFAULT_TIMEOUT_MS))),
    })),
  };
}
