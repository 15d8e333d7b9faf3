// The error of a failed rvss gRPC call on the wire: a google.rpc.Status in the standard
// grpc-status-details-bin trailer, holding one rvss.v1.ErrorInfo packed as a google.protobuf.Any.
import { Status } from "./gen/google/rpc/status";
import { ErrorInfo } from "./gen/rvss/v1/errors";

/** The trailer gRPC reserves for a serialised google.rpc.Status. */
export const STATUS_DETAILS_TRAILER = "grpc-status-details-bin";

const ERROR_INFO_TYPE_URL = "type.googleapis.com/rvss.v1.ErrorInfo";

/** Serialises the status of a failed call: its gRPC code, its message and its ErrorInfo. */
export function encodeErrorStatus(code: number, message: string, info: ErrorInfo): Buffer {
  const details = [{ typeUrl: ERROR_INFO_TYPE_URL, value: Buffer.from(ErrorInfo.encode(info).finish()) }];
  return Buffer.from(Status.encode({ code, message, details }).finish());
}

/** Reads a status back; `info` is its ErrorInfo, absent when a server other than rvss sent none. */
export function decodeErrorStatus(bytes: Uint8Array): { status: Status; info?: ErrorInfo } {
  const status = Status.decode(bytes);
  const packed = status.details.find((d) => d.typeUrl === ERROR_INFO_TYPE_URL);
  return packed ? { status, info: ErrorInfo.decode(packed.value) } : { status };
}
