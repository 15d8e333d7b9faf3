/**
 * Queries: questions answered at once over NATS request/reply, served by a queue group so replicas
 * share them. Used where a caller must answer now (the FSRVP agent API, preflight) and by the
 * coordinator's reconciler, which asks what the storage holds.
 */
import {
  ErrorCodes,
  RvssError,
  errorMessage,
  isRvssError,
  toErrorCode,
  type ErrorCode,
  CHECK_SHARES_SUBJECT,
  STORAGE_INVENTORY_SUBJECT,
} from "@rvss/core";
import {
  CheckSharesRequest,
  CheckSharesResponse,
  StorageInventoryRequest,
  StorageInventoryResponse,
} from "@rvss/proto";
import type { Logger } from "@rvss/runtime";
import type { Bus } from "./bus";

interface Codec<T> {
  encode(m: T): { finish(): Uint8Array };
  decode(b: Uint8Array): T;
}

/** Every answer can say that the question could not be answered, with an rvss error code. */
interface Answer {
  errorCode: string;
  errorMessage: string;
}

interface Query<Req, Res extends Answer> {
  subject: string;
  /** The service that answers; also its queue group. */
  service: string;
  /** What it is asked to do, for errors: "check shares". */
  doing: string;
  request: Codec<Req>;
  response: Codec<Res>;
  failed(code: ErrorCode, message: string): Res;
}

const CHECK_SHARES: Query<CheckSharesRequest, CheckSharesResponse> = {
  subject: CHECK_SHARES_SUBJECT,
  service: "share-discovery",
  doing: "check shares",
  request: CheckSharesRequest,
  response: CheckSharesResponse,
  failed: (errorCode, errorMessage) => ({ checks: [], errorCode, errorMessage, svmFound: false, svmNames: [] }),
};

const STORAGE_INVENTORY: Query<StorageInventoryRequest, StorageInventoryResponse> = {
  subject: STORAGE_INVENTORY_SUBJECT,
  service: "snapshot-executor",
  doing: "list the storage",
  request: StorageInventoryRequest,
  response: StorageInventoryResponse,
  failed: (errorCode, errorMessage) => ({ svms: [], errorCode, errorMessage }),
};

/** Asks a query; fails with UNAVAILABLE when no replica answers, or with the answer's own error. */
async function ask<Req, Res extends Answer>(
  bus: Bus,
  q: Query<Req, Res>,
  req: Req,
  timeoutMs: number,
  details: Record<string, string>,
): Promise<Res> {
  let reply;
  try {
    reply = await bus.nc.request(q.subject, q.request.encode(req).finish(), { timeout: timeoutMs });
  } catch (err) {
    const message = errorMessage(err);
    if (/no responders|503/i.test(message))
      throw new RvssError(ErrorCodes.UNAVAILABLE, `no ${q.service} replica is running to ${q.doing}`, details);
    throw new RvssError(ErrorCodes.TIMEOUT, `${q.service} did not answer within ${timeoutMs} ms: ${message}`, details);
  }
  const res = q.response.decode(reply.data);
  if (res.errorCode) {
    throw new RvssError(toErrorCode(res.errorCode), res.errorMessage, details);
  }
  return res;
}

export interface Server {
  stop(): void;
}

/** Serves a query in its service's queue group; a failing answer goes back as an error code and message. */
function serve<Req, Res extends Answer>(
  bus: Bus,
  q: Query<Req, Res>,
  log: Logger,
  answer: (req: Req) => Promise<Res>,
): Server {
  const sub = bus.nc.subscribe(q.subject, {
    queue: q.service,
    callback: (err, msg) => {
      if (err) return log.warn({ err: errorMessage(err), subject: q.subject }, "query subscription error");
      void (async () => {
        let res: Res;
        try {
          res = await answer(q.request.decode(msg.data));
        } catch (e) {
          const code = isRvssError(e) ? e.code : ErrorCodes.INTERNAL;
          log.error({ code, err: errorMessage(e), subject: q.subject }, `could not ${q.doing}`);
          res = q.failed(code, errorMessage(e));
        }
        msg.respond(q.response.encode(res).finish());
      })();
    },
  });
  return { stop: () => sub.unsubscribe() };
}

/** Asks share-discovery about shares. */
export function checkShares(bus: Bus, req: CheckSharesRequest, timeoutMs = 30_000): Promise<CheckSharesResponse> {
  return ask(bus, CHECK_SHARES, req, timeoutMs, { svm: req.svm });
}

export function serveCheckShares(
  bus: Bus,
  log: Logger,
  answer: (req: CheckSharesRequest) => Promise<CheckSharesResponse>,
): Server {
  return serve(bus, CHECK_SHARES, log, answer);
}

/** Asks the snapshot-executor what the storage holds of what rvss makes. */
export function storageInventory(
  bus: Bus,
  req: StorageInventoryRequest,
  timeoutMs = 30_000,
): Promise<StorageInventoryResponse> {
  return ask(bus, STORAGE_INVENTORY, req, timeoutMs, {});
}

export function serveStorageInventory(
  bus: Bus,
  log: Logger,
  answer: (req: StorageInventoryRequest) => Promise<StorageInventoryResponse>,
): Server {
  return serve(bus, STORAGE_INVENTORY, log, answer);
}
