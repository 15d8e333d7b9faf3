/**
 * The gRPC adapters of the coordinator's services: async handlers to grpc-js's callback form, every
 * failure through the one error path (grpc-errors.ts), and the time a call has left.
 */
import type { ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { ErrorCodes, FsrvpError, HRESULT, RvssError, svmNameProblem, type ErrorDetails } from "@rvss/core";
import type { Logger } from "@rvss/runtime";
import { toServiceError } from "./grpc-errors";

type Handler<Req, Res> = (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>;

/** A unary call; `ids` names what the request is about, for its errors and logs. */
export function unary<Req, Res>(
  log: Logger,
  name: string,
  fn: Handler<Req, Res>,
  ids: (req: Req) => ErrorDetails = () => ({}),
) {
  return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>): void => {
    fn(call.request, call).then(
      (res) => {
        log.debug({ rpc: name, ...ids(call.request) }, "rpc ok");
        cb(null, res);
      },
      (err: unknown) => {
        const e = RvssError.from(err);
        const details = { ...ids(call.request), ...e.details };
        if (e.code === ErrorCodes.INTERNAL)
          log.error({ rpc: name, ...details, err: e.message, stack: e.stack }, "rpc failed");
        else log.info({ rpc: name, code: e.code, ...details }, e.message);
        cb(toServiceError(e, details) as never, null);
      },
    );
  };
}

/** An FSRVP call: it must name its SVM (the FSRVP server), and its errors carry the SVM and the set. */
export function fsrvpUnary<Req extends { svm: string }, Res>(log: Logger, name: string, fn: Handler<Req, Res>) {
  return unary<Req, Res>(
    log,
    name,
    async (req, call) => {
      if (!req.svm) throw FsrvpError.of(HRESULT.E_INVALIDARG, "the call names no SVM (the FSRVP server)");
      const bad = svmNameProblem(req.svm);
      if (bad) throw FsrvpError.of(HRESULT.E_INVALIDARG, bad);
      return fn(req, call);
    },
    (req) => {
      const setId = (req as { shadowCopySetId?: string }).shadowCopySetId;
      return { ...(req.svm ? { svm: req.svm } : {}), ...(setId ? { setId } : {}) };
    },
  );
}

/** Milliseconds left before the call's deadline, or `fallback` when it has none. */
export function remaining(call: { getDeadline(): Date | number }, fallback = Number.POSITIVE_INFINITY): number {
  const d = call.getDeadline();
  const at = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(at) && at > 0 ? Math.max(1, at - Date.now()) : fallback;
}
