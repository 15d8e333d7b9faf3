/** gRPC errors back into RvssErrors. */
import { status, type Metadata, type ServiceError } from "@grpc/grpc-js";
import { ErrorCodes, RvssError, type ErrorCode, type ErrorDetails } from "@rvss/core";

const known = new Set<string>(Object.values(ErrorCodes));

/** Turns a gRPC error into the RvssError the server raised (or UNAVAILABLE/INTERNAL ones). */
export function fromServiceError(err: ServiceError, address: string): RvssError {
  const md: Metadata | undefined = err.metadata;
  const code = md?.get("rvss-error-code")[0]?.toString();
  const raw = md?.get("rvss-error-details-bin")[0];
  let details: ErrorDetails = {};
  if (raw) {
    try {
      details = JSON.parse(Buffer.from(raw as Buffer).toString("utf8")) as ErrorDetails;
    } catch {
      details = {};
    }
  }
  if (code && known.has(code)) return new RvssError(code as ErrorCode, err.details, details);
  if (err.code === status.UNAVAILABLE) {
    return new RvssError(
      ErrorCodes.UNAVAILABLE,
      `cannot reach the rvss coordinator at ${address} (${err.details}); is it running? (rvss up, or set RVSS_GRPC_ADDR)`,
      { address },
    );
  }
  if (err.code === status.DEADLINE_EXCEEDED)
    return new RvssError(ErrorCodes.TIMEOUT, `the call to ${address} ran out of time: ${err.details}`, { address });
  return new RvssError(ErrorCodes.INTERNAL, err.details || err.message, details);
}
