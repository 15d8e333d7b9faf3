/**
 * The one error path, both sides: what toServiceError puts on the wire decodes with the generated
 * google.rpc.Status and rvss.v1.ErrorInfo, and @rvss/client turns it back into the same error.
 */
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  ErrorCodes,
  FsrvpError,
  HRESULT,
  RvssError,
  isFsrvpError,
  type ErrorCode,
  type ErrorDetails,
} from "@rvss/core";
import { fromServiceError } from "@rvss/client";
import { ErrorInfo, Status } from "@rvss/proto";
import { toServiceError } from "./grpc-errors";

/** What a grpc-js client receives for a ServiceError the server sent. */
function received(sent: Partial<ServiceError>): ServiceError {
  return Object.assign(new Error(sent.details), sent, { metadata: sent.metadata ?? new Metadata() }) as ServiceError;
}

function wire(sent: Partial<ServiceError>): { status: Status; info: ErrorInfo } {
  const [raw] = sent.metadata!.get("grpc-status-details-bin");
  const decoded = Status.decode(raw as Buffer);
  expect(decoded.details.map((d) => d.typeUrl)).toEqual(["type.googleapis.com/rvss.v1.ErrorInfo"]);
  return { status: decoded, info: ErrorInfo.decode(decoded.details[0]!.value) };
}

const rows: [string, Error, ErrorDetails, status, Partial<ErrorInfo>][] = [
  [
    "an RvssError",
    new RvssError(ErrorCodes.BACKUP_NOT_FOUND, 'backup "b-1" does not exist', { backupId: "b-1" }),
    {},
    status.NOT_FOUND,
    { code: "BACKUP_NOT_FOUND", hresult: 0, backupId: "b-1", metadata: {} },
  ],
  [
    "an RvssError with details ErrorInfo has no field for",
    new RvssError(ErrorCodes.CONFIG_INVALID, "RVSS_X is not a number", { variable: "RVSS_X", attempt: 2 }),
    {},
    status.FAILED_PRECONDITION,
    { code: "CONFIG_INVALID", metadata: { variable: "RVSS_X", attempt: "2" } },
  ],
  [
    "an FsrvpError, with the request's SVM and set",
    FsrvpError.of(HRESULT.FSRVP_E_BAD_STATE),
    { svm: "vs1", setId: "s-1" },
    status.FAILED_PRECONDITION,
    { code: "FSRVP", hresult: HRESULT.FSRVP_E_BAD_STATE, svm: "vs1", setId: "s-1" },
  ],
  [
    "an FsrvpError of an HRESULT outside the table",
    FsrvpError.of(0x80070001, "odd"),
    {},
    status.UNKNOWN,
    { code: "FSRVP", hresult: 0x80070001 },
  ],
  ["anything else", new Error("boom"), { svm: "vs1" }, status.INTERNAL, { code: "INTERNAL", svm: "vs1" }],
];

test.each(rows)("%s travels as one google.rpc.Status", (_, err, ids, code, info) => {
  const sent = toServiceError(err, ids);
  expect(sent.code).toBe(code);
  const w = wire(sent);
  expect([w.status.code, w.status.message]).toEqual([code, err.message]);
  expect(w.info).toEqual(expect.objectContaining(info));
  expect(sent.metadata!.getMap()).toEqual({ "grpc-status-details-bin": expect.any(Buffer) });
});

test.each(rows)("%s comes back to the client as the same error", (_, err, ids) => {
  const back = fromServiceError(received(toServiceError(err, ids)), "127.0.0.1:1");
  const e = RvssError.from(err);
  expect([back.constructor, back.code, back.message]).toEqual([e.constructor, e.code, e.message]);
  expect(back.details).toEqual(
    Object.fromEntries(Object.entries({ ...ids, ...e.details }).map(([k, v]) => [k, k === "hresult" ? v : String(v)])),
  );
  expect(isFsrvpError(back) && back.hresult).toBe(isFsrvpError(err) && err.hresult);
});

const plain: [string, status, ErrorCode][] = [
  ["UNAVAILABLE", status.UNAVAILABLE, ErrorCodes.UNAVAILABLE],
  ["DEADLINE_EXCEEDED", status.DEADLINE_EXCEEDED, ErrorCodes.TIMEOUT],
  ["INTERNAL", status.INTERNAL, ErrorCodes.INTERNAL],
];

test.each(plain)("a bare %s status, from a server that sends no ErrorInfo, gets a stable code", (_, code, expected) => {
  const back = fromServiceError(received({ code, details: "no connection" }), "127.0.0.1:1");
  expect(back.code).toBe(expected);
});
