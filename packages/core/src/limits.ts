/**
 * Caps on what one request may name, checked before anything is written: a request over them is
 * refused whole (RESOURCE_EXHAUSTED naming the limit and its variable), never half-planned.
 */
import { ErrorCodes, RvssError } from "./errors";

export interface RequestLimits {
  maxSharesPerRequest: number;
  maxFilesPerRequest: number;
}

function over(what: string, count: number, max: number, variable: string): RvssError {
  return new RvssError(
    ErrorCodes.RESOURCE_EXHAUSTED,
    `the request names ${count} ${what}, more than the limit of ${max} (${variable}); split it into several requests`,
    { variable, limit: max, count },
  );
}

/** Refuses a dataset with more shares, or more files and VMs over all its shares, than the limits allow. */
export function checkRequestLimits(
  items: readonly { files?: readonly string[]; vms?: readonly unknown[] }[],
  limits: RequestLimits,
): void {
  if (items.length > limits.maxSharesPerRequest)
    throw over("shares", items.length, limits.maxSharesPerRequest, "RVSS_MAX_SHARES_PER_REQUEST");
  const files = items.reduce((n, i) => n + (i.files?.length ?? 0) + (i.vms?.length ?? 0), 0);
  if (files > limits.maxFilesPerRequest)
    throw over("files and VMs", files, limits.maxFilesPerRequest, "RVSS_MAX_FILES_PER_REQUEST");
}
