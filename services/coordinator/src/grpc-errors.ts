/**
 * RvssError to gRPC status. The stable code and the details (IDs, names) travel in trailing
 * metadata (`rvss-error-code`, `rvss-error-details-bin`), so any gRPC client can read them;
 * @rvss/client turns them back into an RvssError.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { RvssError, type ErrorCode } from "@rvss/core";

const grpcCode: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  CONFIG_INVALID: status.FAILED_PRECONDITION,
  SVM_NOT_FOUND: status.NOT_FOUND,
  SHARE_NOT_FOUND: status.NOT_FOUND,
  FILE_NOT_FOUND: status.NOT_FOUND,
  FILE_NOT_REGULAR: status.FAILED_PRECONDITION,
  PATH_ESCAPES_SHARE: status.INVALID_ARGUMENT,
  LAYOUT_UNSUPPORTED: status.FAILED_PRECONDITION,
  BACKUP_NOT_FOUND: status.NOT_FOUND,
  SNAPSHOT_NOT_FOUND: status.NOT_FOUND,
  FSRVP: status.FAILED_PRECONDITION,
  NATS_UNAVAILABLE: status.UNAVAILABLE,
  UNAVAILABLE: status.UNAVAILABLE,
  STORAGE_FAILED: status.INTERNAL,
  CHECKSUM_MISMATCH: status.DATA_LOSS,
  CONFLICT: status.ABORTED,
  TIMEOUT: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  WRITER_FAILED: status.ABORTED,
  DEPENDENCY_MISSING: status.FAILED_PRECONDITION,
  ORPHAN: status.ABORTED,
  INTERNAL: status.INTERNAL,
};

export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = RvssError.from(err);
  const md = new Metadata();
  md.set("rvss-error-code", e.code);
  md.set("rvss-error-details-bin", Buffer.from(JSON.stringify(e.details)));
  return { code: grpcCode[e.code] ?? status.INTERNAL, details: e.message, metadata: md };
}
