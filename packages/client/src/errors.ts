/**
 * gRPC errors back into the error the server raised: an RvssError, or an FsrvpError carrying the
 * exact HRESULT, rebuilt from the rvss.v1.ErrorInfo in the status details (grpc-errors.ts on the
 * server). The gRPC error itself stays as the cause.
 */
import { status, type ServiceError } from "@grpc/grpc-js";
import { ErrorCodes, FsrvpError, RvssError, toErrorCode, type ErrorDetails } from "@rvss/core";
import { STATUS_DETAILS_TRAILER, decodeErrorStatus, type ErrorInfo } from "@rvss/proto";

/** The ErrorInfo of the status details; none when the server is not rvss or the trailer is unreadable. */
function errorInfoOf(err: ServiceError): ErrorInfo | undefined {
  const raw = err.metadata?.get(STATUS_DETAILS_TRAILER)[0];
  if (!(raw instanceof Uint8Array)) return undefined;
  try {
    return decodeErrorStatus(raw).info;
  } catch {
    return undefined;
  }
}

function detailsOf(info: ErrorInfo): ErrorDetails {
  const { code: _code, hresult: _hresult, metadata, ...ids } = info;
  const details: ErrorDetails = { ...metadata };
  for (const [key, value] of Object.entries(ids)) if (value) details[key] = value;
  return details;
}

/** Turns a gRPC error into the error the server raised, or into UNAVAILABLE, TIMEOUT or INTERNAL. */
export function fromServiceError(err: ServiceError, address: string): RvssError {
  const info = errorInfoOf(err);
  if (info) {
    const details = detailsOf(info);
    return info.code === ErrorCodes.FSRVP && info.hresult !== 0
      ? new FsrvpError(info.hresult, err.details, details, { cause: err })
      : new RvssError(toErrorCode(info.code), err.details, details, { cause: err });
  }
  if (err.code === status.UNAVAILABLE) {
    return new RvssError(
      ErrorCodes.UNAVAILABLE,
      `cannot reach the rvss coordinator at ${address} (${connectionProblem(err.details)}); is it running? (rvss up, or set RVSS_GRPC_ADDR)`,
      { address },
      { cause: err },
    );
  }
  if (err.code === status.DEADLINE_EXCEEDED)
    // grpc-js's details ("Deadline exceeded after 10.002s,LB pick: …") say nothing a user can act on.
    return new RvssError(
      ErrorCodes.TIMEOUT,
      `the rvss coordinator at ${address} did not answer in time; if it is running, check its health (/readyz): it may have lost NATS`,
      { address },
      { cause: err },
    );
  return new RvssError(ErrorCodes.INTERNAL, err.details || err.message, {}, { cause: err });
}

/** What went wrong with the connection, in the words of the system call, without grpc-js's own notes. */
function connectionProblem(details: string): string {
  const errno = /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT)\b/.exec(
    details,
  )?.[1];
  const words: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ENOTFOUND: "unknown host",
    EAI_AGAIN: "host name lookup failed",
    ETIMEDOUT: "connection timed out",
  };
  if (errno) return words[errno]!;
  return details.replace(/\s*Resolution note:.*$/s, "").replace(/Last error: Error: /, "") || "no connection";
}
