/**
 * FSRVP results as gRPC statuses. The gRPC code is the closest match; the exact HRESULT travels in
 * trailing metadata (rvss-hresult, rvss-hresult-name) and as an rvss.v1.FsrvpError detail inside a
 * google.rpc.Status in grpc-status-details-bin, the standard place for rich error details.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { HRESULT, describeHResult, type HResultName } from "@rvss/core";
import { FsrvpError } from "@rvss/proto";

const codeOf: Partial<Record<HResultName, status>> = {
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

const nameOf = new Map<number, HResultName>(Object.entries(HRESULT).map(([k, v]) => [v, k as HResultName]));

/** google.rpc.Status { code = 1; message = 2; repeated google.protobuf.Any details = 3 } */
function richStatus(code: status, message: string, detail: FsrvpError): Buffer {
  const any = new BinaryWriter()
    .uint32(10)
    .string("type.googleapis.com/rvss.v1.FsrvpError")
    .uint32(18)
    .bytes(FsrvpError.encode(detail).finish())
    .finish();
  return Buffer.from(
    new BinaryWriter().uint32(8).int32(code).uint32(18).string(message).uint32(26).bytes(any).finish(),
  );
}

export class FsrvpFailure extends Error {
  constructor(
    readonly hresult: number,
    message: string,
  ) {
    super(message);
  }
}

export function fsrvpServiceError(
  hresult: number,
  ctx: { svm: string; setId?: string; message?: string },
): Partial<ServiceError> {
  const name = nameOf.get(hresult >>> 0) ?? "";
  const code = (name && codeOf[name]) || status.UNKNOWN;
  const message = ctx.message ? `${describeHResult(hresult)}: ${ctx.message}` : describeHResult(hresult);
  const md = new Metadata();
  md.set("rvss-hresult", "0x" + (hresult >>> 0).toString(16).padStart(8, "0"));
  md.set("rvss-hresult-name", name || "UNKNOWN");
  md.set(
    "grpc-status-details-bin",
    richStatus(code, message, { hresult: hresult >>> 0, name, svm: ctx.svm, shadowCopySetId: ctx.setId ?? "" }),
  );
  return { code, details: message, metadata: md };
}
