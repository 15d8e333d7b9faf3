/**
 * Queries: questions answered at once over NATS request/reply, served by a queue group so replicas
 * share them. Used where a caller must answer now (the FSRVP agent API, preflight).
 */
import { ErrorCodes, RvssError, errorMessage, isRvssError } from "@rvss/core";
import { CheckSharesRequest, CheckSharesResponse } from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import type { Bus } from "./bus";

export const CHECK_SHARES_SUBJECT = "rvss.v1.req.discovery.check_shares";

/** Asks share-discovery about shares; fails with NATS_UNAVAILABLE when no replica answers. */
export async function checkShares(bus: Bus, req: CheckSharesRequest, timeoutMs = 30_000): Promise<CheckSharesResponse> {
  let reply;
  try {
    reply = await bus.nc.request(CHECK_SHARES_SUBJECT, CheckSharesRequest.encode(req).finish(), { timeout: timeoutMs });
  } catch (err) {
    const message = errorMessage(err);
    if (/no responders|503/i.test(message)) throw new RvssError(ErrorCodes.NATS_UNAVAILABLE, "no share-discovery replica is running to check shares", { svm: req.svm });
    throw new RvssError(ErrorCodes.TIMEOUT, `share-discovery did not answer within ${timeoutMs} ms: ${message}`, { svm: req.svm });
  }
  const res = CheckSharesResponse.decode(reply.data);
  if (res.errorCode) {
    const code = (Object.values(ErrorCodes) as string[]).includes(res.errorCode) ? (res.errorCode as RvssError["code"]) : ErrorCodes.INTERNAL;
    throw new RvssError(code, res.errorMessage, { svm: req.svm });
  }
  return res;
}

export interface Server {
  stop(): void;
}

/** Serves CheckShares in the "share-discovery" queue group. */
export function serveCheckShares(bus: Bus, log: Logger, answer: (req: CheckSharesRequest) => Promise<CheckSharesResponse>): Server {
  const sub = bus.nc.subscribe(CHECK_SHARES_SUBJECT, {
    queue: "share-discovery",
    callback: (err, msg) => {
      if (err) return log.warn({ err: errorMessage(err) }, "check-shares subscription error");
      void (async () => {
        let res: CheckSharesResponse;
        try {
          res = await answer(CheckSharesRequest.decode(msg.data));
        } catch (e) {
          const code = isRvssError(e) ? e.code : ErrorCodes.INTERNAL;
          log.error({ code, err: errorMessage(e) }, "check-shares failed");
          res = { checks: [], errorCode: code, errorMessage: errorMessage(e) };
        }
        msg.respond(CheckSharesResponse.encode(res).finish());
      })();
    },
  });
  return { stop: () => sub.unsubscribe() };
}
