/**
 * Errors to gRPC statuses: the one error path of every rvss gRPC service. The status code is the
 * closest gRPC match (for an FSRVP failure, of its HRESULT); the stable RvssError code, the HRESULT and
 * the IDs travel as an rvss.v1.ErrorInfo inside a google.rpc.Status in grpc-status-details-bin, the
 * standard place for rich error details, which @rvss/client turns back into the same error.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { HRESULT, RvssError, isFsrvpError, type ErrorCode, type ErrorDetails, type HResultName } from "@rvss/core";
import { ErrorInfo, STATUS_DETAILS_TRAILER, encodeErrorStatus } from "@rvss/proto";

const grpcCode: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  CONFIG_INVALID: status.FAILED_PRECONDITION,
  SVM_NOT_FOUND: status.NOT_FOUND,
  SHARE_NOT_FOUND: status.NOT_FOUND,
  FILE_NOT_FOUND: status.NOT_FOUND,
  FILE_EXISTS: status.ALREADY_EXISTS,
  FILE_NOT_REGULAR: status.FAILED_PRECONDITION,
  PATH_ESCAPES_SHARE: status.INVALID_ARGUMENT,
  LAYOUT_UNSUPPORTED: status.FAILED_PRECONDITION,
  BACKUP_NOT_FOUND: status.NOT_FOUND,
  SCHEDULE_NOT_FOUND: status.NOT_FOUND,
  RESTORE_NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
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
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  INTERNAL: status.INTERNAL,
};

/** The gRPC code of each HRESULT an FSRVP call can answer; others are UNKNOWN. */
const hresultCode: Partial<Record<HResultName, status>> = {
  FSRVP_E_BAD_STATE: status.FAILED_PRECONDITION,
  FSRVP_E_SHADOW_COPY_SET_IN_PROGRESS: status.ALREADY_EXISTS,
  FSRVP_E_NOT_SUPPORTED: status.FAILED_PRECONDITION,
  FSRVP_E_WAIT_TIMEOUT: status.DEADLINE_EXCEEDED,
  FSSAGENT_E_TIMEOUT: status.DEADLINE_EXCEEDED,
  FSRVP_E_WAIT_FAILED: status.ABORTED,
  FSRVP_E_OBJECT_ALREADY_EXISTS: status.ALREADY_EXISTS,
  FSRVP_E_OBJECT_NOT_FOUND: status.NOT_FOUND,
  FSRVP_E_UNSUPPORTED_CONTEXT: status.INVALID_ARGUMENT,
  FSRVP_E_SHADOWCOPYSET_ID_MISMATCH: status.NOT_FOUND,
  E_ACCESSDENIED: status.PERMISSION_DENIED,
  E_INVALIDARG: status.INVALID_ARGUMENT,
  E_OUTOFMEMORY: status.RESOURCE_EXHAUSTED,
  E_FAIL: status.INTERNAL,
};

const hresultName = new Map<number, HResultName>(Object.entries(HRESULT).map(([k, v]) => [v, k as HResultName]));

function codeOf(e: RvssError): status {
  if (!isFsrvpError(e)) return grpcCode[e.code];
  const name = hresultName.get(e.hresult);
  return (name && hresultCode[name]) ?? status.UNKNOWN;
}

/** The details ErrorInfo has a field for, under the same name; the others go, as text, into its metadata. */
const fields = ["svm", "share", "volume", "path", "file", "setId", "backupId", "shadowCopyId", "snapshot"] as const;
type Field = (typeof fields)[number] & keyof ErrorInfo;
const isField = (key: string): key is Field => (fields as readonly string[]).includes(key);

function errorInfo(e: RvssError, details: ErrorDetails): ErrorInfo {
  const info = ErrorInfo.fromPartial({ code: e.code, hresult: isFsrvpError(e) ? e.hresult : 0 });
  for (const [key, value] of Object.entries(details)) {
    if (value === undefined || key === "hresult") continue;
    if (isField(key)) info[key] = String(value);
    else info.metadata[key] = String(value);
  }
  return info;
}

/** The status for anything a handler threw; `ids` (the request's SVM, set, ...) fill in what the error left out. */
export function toServiceError(err: unknown, ids: ErrorDetails = {}): Partial<ServiceError> {
  const e = RvssError.from(err);
  const code = codeOf(e);
  const md = new Metadata();
  md.set(STATUS_DETAILS_TRAILER, encodeErrorStatus(code, e.message, errorInfo(e, { ...ids, ...e.details })));
  return { code, details: e.message, metadata: md };
}
