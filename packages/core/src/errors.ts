/**
 * The one error model of rvss. Every failure a user or operator can see is an RvssError with a stable
 * `code` (never parse messages), a message that names the offending thing, and the IDs an operator
 * needs in `details`. `RvssError.from` turns anything thrown into one. An FSRVP call that answers an
 * HRESULT other than S_OK fails with FsrvpError, the same class on the server and in the client.
 */
import { describeHResult } from "./fsrvp/hresult";

export const ErrorCodes = {
  /** A request field is missing or malformed. */
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  /** A configuration file or variable is malformed. */
  CONFIG_INVALID: "CONFIG_INVALID",
  SVM_NOT_FOUND: "SVM_NOT_FOUND",
  SHARE_NOT_FOUND: "SHARE_NOT_FOUND",
  FILE_NOT_FOUND: "FILE_NOT_FOUND",
  /** A restore would replace a file that exists at its target with different contents. */
  FILE_EXISTS: "FILE_EXISTS",
  /** A listed file is a directory, symlink, FIFO, socket or device. */
  FILE_NOT_REGULAR: "FILE_NOT_REGULAR",
  /** A listed path is absolute, contains "..", a NUL byte, or resolves outside the share. */
  PATH_ESCAPES_SHARE: "PATH_ESCAPES_SHARE",
  /** The share's directory layout breaks a Remote VSS rule. */
  LAYOUT_UNSUPPORTED: "LAYOUT_UNSUPPORTED",
  BACKUP_NOT_FOUND: "BACKUP_NOT_FOUND",
  SCHEDULE_NOT_FOUND: "SCHEDULE_NOT_FOUND",
  RESTORE_NOT_FOUND: "RESTORE_NOT_FOUND",
  /** A name (backup, schedule) is taken already. */
  ALREADY_EXISTS: "ALREADY_EXISTS",
  /** The request is well-formed but what it names is not in a state that allows it (a running backup). */
  FAILED_PRECONDITION: "FAILED_PRECONDITION",
  SNAPSHOT_NOT_FOUND: "SNAPSHOT_NOT_FOUND",
  /** An FSRVP operation failed; details.hresult holds the exact HRESULT. */
  FSRVP: "FSRVP",
  /** The NATS server cannot be reached. */
  NATS_UNAVAILABLE: "NATS_UNAVAILABLE",
  /** The coordinator, or every replica of a service, did not answer. */
  UNAVAILABLE: "UNAVAILABLE",
  /** The storage backend refused or failed an operation. */
  STORAGE_FAILED: "STORAGE_FAILED",
  /** A restored file does not match the checksum recorded when the copy was sealed. */
  CHECKSUM_MISMATCH: "CHECKSUM_MISMATCH",
  /** A compare-and-set lost against a concurrent writer too many times. */
  CONFLICT: "CONFLICT",
  TIMEOUT: "TIMEOUT",
  CANCELLED: "CANCELLED",
  /** An application writer failed a step or did not answer in time. */
  WRITER_FAILED: "WRITER_FAILED",
  /** A required program (e.g. nats-server) is not installed. */
  DEPENDENCY_MISSING: "DEPENDENCY_MISSING",
  /** Storage found in no record; the reconciler removes it as an aborted set. */
  ORPHAN: "ORPHAN",
  /** The caller presented no identity (no client certificate with a URI SAN, no known bearer token). */
  UNAUTHENTICATED: "UNAUTHENTICATED",
  /** The caller's roles do not include the one the method needs. */
  PERMISSION_DENIED: "PERMISSION_DENIED",
  /** A request is over a size or concurrency limit; details name the limit. */
  RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
  INTERNAL: "INTERNAL",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** The IDs and names that locate a failure. All optional; set what is known. */
export interface ErrorDetails {
  svm?: string;
  share?: string;
  volume?: string;
  path?: string;
  file?: string;
  setId?: string;
  backupId?: string;
  shadowCopyId?: string;
  snapshot?: string;
  hresult?: number;
  [key: string]: string | number | boolean | undefined;
}

const marker = Symbol.for("rvss.RvssError");

export class RvssError extends Error {
  override readonly name: string = "RvssError";
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
    Object.defineProperty(this, marker, { value: true });
  }

  /** Normalises anything thrown into an RvssError (INTERNAL unless it already is one). */
  static from(err: unknown, fallback: ErrorCode = ErrorCodes.INTERNAL): RvssError {
    if (isRvssError(err)) return err;
    if (err instanceof Error) return new RvssError(fallback, err.message, {}, { cause: err });
    return new RvssError(fallback, String(err));
  }

  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * An FSRVP operation answered `hresult` (MS-FSRVP 2.2.4), not S_OK. Its code is FSRVP and
 * details.hresult repeats the HRESULT, so it travels and is handled like any RvssError.
 */
export class FsrvpError extends RvssError {
  override readonly name: string = "FsrvpError";
  readonly hresult: number;

  constructor(hresult: number, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(ErrorCodes.FSRVP, message, { ...details, hresult: hresult >>> 0 }, options);
    this.hresult = hresult >>> 0;
  }

  /** The error for `hresult`, its message the HRESULT's name followed by the reason, when there is one. */
  static of(hresult: number, reason?: string, details?: ErrorDetails): FsrvpError {
    return new FsrvpError(
      hresult,
      reason ? `${describeHResult(hresult)}: ${reason}` : describeHResult(hresult),
      details,
    );
  }
}

/** True for an FsrvpError, optionally of one HRESULT. */
export function isFsrvpError(err: unknown, hresult?: number): err is FsrvpError {
  if (!isRvssError(err, ErrorCodes.FSRVP) || typeof (err as FsrvpError).hresult !== "number") return false;
  return hresult === undefined || (err as FsrvpError).hresult === hresult >>> 0;
}

const known = new Set<string>(Object.values(ErrorCodes));

/** A code read from the wire or from storage: itself when known, INTERNAL otherwise. */
export function toErrorCode(code: string): ErrorCode {
  return known.has(code) ? (code as ErrorCode) : ErrorCodes.INTERNAL;
}

/** True for an RvssError (from any copy of this package), optionally of one code. */
export function isRvssError(err: unknown, code?: ErrorCode): err is RvssError {
  const ok = typeof err === "object" && err !== null && (err as Record<symbol, unknown>)[marker] === true;
  return ok && (code === undefined || (err as RvssError).code === code);
}

const permanent = new Set<ErrorCode>([
  ErrorCodes.INVALID_ARGUMENT,
  ErrorCodes.CONFIG_INVALID,
  ErrorCodes.SVM_NOT_FOUND,
  ErrorCodes.SHARE_NOT_FOUND,
  ErrorCodes.FILE_NOT_FOUND,
  ErrorCodes.FILE_EXISTS,
  ErrorCodes.FILE_NOT_REGULAR,
  ErrorCodes.PATH_ESCAPES_SHARE,
  ErrorCodes.LAYOUT_UNSUPPORTED,
  ErrorCodes.BACKUP_NOT_FOUND,
  ErrorCodes.SCHEDULE_NOT_FOUND,
  ErrorCodes.RESTORE_NOT_FOUND,
  ErrorCodes.ALREADY_EXISTS,
  ErrorCodes.FAILED_PRECONDITION,
  ErrorCodes.SNAPSHOT_NOT_FOUND,
  ErrorCodes.CHECKSUM_MISMATCH,
  ErrorCodes.FSRVP,
  ErrorCodes.UNAUTHENTICATED,
  ErrorCodes.PERMISSION_DENIED,
]);

/** True when repeating the same request can never succeed, so retrying it is pointless. */
export function isPermanent(err: unknown): boolean {
  return isRvssError(err) && permanent.has(err.code);
}

export function invalidArgument(message: string, details?: ErrorDetails): RvssError {
  return new RvssError(ErrorCodes.INVALID_ARGUMENT, message, details);
}

/** The message of anything thrown, for logs and failure reasons. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
