/**
 * @rvss/writer-sdk: make an application an rvss writer. It registers the writer (and keeps the
 * registration alive with a heartbeat), answers the four steps of the writer protocol with your
 * async callbacks, thaws by itself when the freeze window ends, and survives reconnects.
 *
 *   const writer = await startWriter({
 *     servers: "nats://127.0.0.1:4222", name: "orders-db", svm: "vs1", shares: [{ share: "share1" }],
 *     checkpoint: async () => { await db.pause(); return { detail: `checkpoint_id=${db.lastId()}` }; },
 *     thaw: async () => db.resume(),
 *     autoRecover: async ({ copies }) => { for (const c of copies) await repair(c.accessPath); },
 *     finish: async ({ completed }) => log(completed ? "backup done" : "backup aborted"),
 *   });
 *
 * A callback that throws answers "failed" with the error's message as the reason.
 *
 * Against a NATS server with users, give the writer's credentials and TLS the way rvss's services
 * take theirs (`loadConfig().nats` and `.natsTls`), and its writer ID: its NATS user
 * (`writer-<writerId>`, `rvss nats-config --writer`) may answer only that writer ID's requests.
 */
import { randomUUID } from "node:crypto";
import { PermissionViolationError, connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { natsConnectOptions } from "@rvss/bus";
import {
  ErrorCodes,
  RvssError,
  WRITERS_BUCKET,
  inboxPrefixOf,
  writerIdentity,
  writerKey,
  writerSubjects,
} from "@rvss/core";
import type { NatsCredentials, NatsTls } from "@rvss/runtime";
import { WriterRegistration, WriterRequest, WriterResponse, WriterOutcome, type RecoverCopy } from "@rvss/proto";

export type { RecoverCopy };

/** Which set a step is about. */
export interface StepContext {
  svm: string;
  setId: string;
  backupId: string;
}

/** What a step may put on record (it shows in rvss's events and backup record). */
export interface StepAnswer {
  detail?: string;
}

export interface WriterCallbacks {
  /** Quiesce and mark the point in time. Must finish well within the freeze window. */
  checkpoint(ctx: StepContext & { shares: string[]; freezeWindowMs: number }): Promise<StepAnswer | void>;
  /** Resume writing: the shadow copies exist (also called when the freeze window ends first). */
  thaw(ctx: StepContext & { reason: "thaw" | "freeze-window-ended" | "finished" }): Promise<StepAnswer | void>;
  /** Repair your files inside each writable copy (roll back to the checkpoint). */
  autoRecover(ctx: StepContext & { copies: RecoverCopy[] }): Promise<StepAnswer | void>;
  /** The set ended: completed (the backup holds your checkpoint) or aborted. */
  finish?(ctx: StepContext & { completed: boolean; reason: string }): Promise<void>;
}

export interface WriterOptions extends WriterCallbacks {
  /** NATS server(s) of the rvss deployment. */
  servers: string | string[];
  /**
   * How the writer proves who it is to NATS, as rvss's services do: a user with a password file, a
   * token file, an nkey seed file or a creds file (re-read at every reconnect); none: anonymous.
   */
  credentials?: Partial<NatsCredentials>;
  /** TLS to NATS: the CA, and a client certificate and key for mutual TLS. */
  tls?: NatsTls | null;
  name: string;
  svm: string;
  shares: { share: string; files?: string[] }[];
  /**
   * Stable ID across restarts if you want one; a new one per start otherwise. Required when the
   * writer logs in: its NATS user answers for one writer ID only.
   */
  writerId?: string;
  heartbeatMs?: number;
  checkpointTimeoutMs?: number;
  autoRecoverTimeoutMs?: number;
  /** Called with what the writer does, for your logs. */
  onLog?: (message: string) => void;
}

export interface Writer {
  readonly writerId: string;
  /** Unregisters and disconnects (thawing first if frozen). */
  stop(): Promise<void>;
}

async function openBucket(nc: NatsConnection): Promise<KV> {
  for (let i = 0; ; i++) {
    try {
      return await new Kvm(jetstream(nc)).open(WRITERS_BUCKET);
    } catch (err) {
      // The bucket appears when the first rvss service starts; wait for it a while.
      if (i >= 100)
        throw new Error(
          `the rvss writer registry (KV bucket ${WRITERS_BUCKET}) does not exist; is rvss running? (${String(err)})`,
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export async function startWriter(o: WriterOptions): Promise<Writer> {
  const auth = natsConnectOptions(o.credentials ?? {}, "writer");
  if (!o.writerId && (auth.authenticator || o.tls?.certFile))
    throw new RvssError(
      ErrorCodes.CONFIG_INVALID,
      `writer ${o.name} logs in to NATS but has no writer ID: its NATS user answers for one writer ID only; give that one`,
    );
  const writerId = o.writerId ?? randomUUID();
  const log = o.onLog ?? (() => undefined);
  const heartbeatMs = o.heartbeatMs ?? 3_000;
  const nc = await connect({
    ...auth,
    // Its NATS user reads replies only there, whatever the user is called.
    inboxPrefix: o.credentials?.inboxPrefix || inboxPrefixOf(writerIdentity(writerId)),
    servers: o.servers,
    name: `writer ${o.name}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(o.tls ? { tls: o.tls } : {}),
  });
  const kv = await openBucket(nc);
  const registration = WriterRegistration.encode({
    writerId,
    name: o.name,
    svm: o.svm,
    shares: o.shares.map((s) => ({ share: s.share, files: s.files ?? [] })),
    heartbeatMs,
    registeredAt: new Date(),
    checkpointTimeoutMs: o.checkpointTimeoutMs ?? 0,
    autoRecoverTimeoutMs: o.autoRecoverTimeoutMs ?? 0,
  }).finish();
  // One key per share: the writer's NATS user may be granted only some shares (rvss nats-config).
  const keys = o.shares.map((s) => ({ share: s.share, key: writerKey(writerId, o.svm, s.share) }));
  const register = async (): Promise<void> => {
    for (const { share, key } of keys) {
      try {
        await kv.put(key, registration);
      } catch (err) {
        if (!/permission/i.test(String(err))) throw err;
        throw new RvssError(
          ErrorCodes.CONFIG_INVALID,
          `NATS refused writer ${writerId} its registration for ${o.svm}/${share} (${String(err)}): its NATS user is not granted that share (rvss nats-config --writer ${writerId}=${o.svm}/${share})`,
          { writerId, svm: o.svm, share },
        );
      }
    }
  };

  // The freeze: from a successful checkpoint until thaw, finish, or the end of the window.
  let frozen: { since: number; timer: NodeJS.Timeout; ctx: StepContext } | null = null;
  const thaw = async (reason: "thaw" | "freeze-window-ended" | "finished"): Promise<StepAnswer> => {
    if (!frozen) return { detail: "not frozen" };
    const f = frozen;
    frozen = null;
    clearTimeout(f.timer);
    const answer = (await o.thaw({ ...f.ctx, reason })) ?? {};
    const frozenMs = Date.now() - f.since;
    log(`thawed (${reason}) after ${frozenMs} ms`);
    return { detail: [`frozen_ms=${frozenMs}`, answer.detail].filter(Boolean).join(" ") };
  };

  const answer = async (req: WriterRequest): Promise<StepAnswer> => {
    const ctx: StepContext = { svm: req.svm, setId: req.setId, backupId: req.backupId };
    const step = req.step;
    switch (step?.$case) {
      case "checkpoint": {
        if (frozen) await thaw("thaw");
        const a =
          (await o.checkpoint({ ...ctx, shares: step.value.shares, freezeWindowMs: step.value.freezeWindowMs })) ?? {};
        const timer = setTimeout(
          () =>
            void thaw("freeze-window-ended").catch((err) =>
              log(`thaw at the end of the freeze window failed: ${String(err)}`),
            ),
          step.value.freezeWindowMs,
        );
        frozen = { since: Date.now(), timer, ctx };
        log(`checkpoint for set ${req.setId}: ${a.detail ?? "ok"}`);
        return a;
      }
      case "thaw":
        return thaw("thaw");
      case "autoRecover": {
        const a = (await o.autoRecover({ ...ctx, copies: step.value.copies })) ?? {};
        log(`auto-recovered set ${req.setId}: ${a.detail ?? "ok"}`);
        return a;
      }
      case "finish": {
        await thaw("finished");
        const completed = step.value.outcome === WriterOutcome.WRITER_OUTCOME_COMPLETED;
        await o.finish?.({ ...ctx, completed, reason: step.value.reason });
        log(`set ${req.setId} ${completed ? "completed" : `aborted: ${step.value.reason}`}`);
        return {};
      }
      default:
        throw new Error("a writer request without a step");
    }
  };

  // Steps of one writer run one at a time, in arrival order.
  let queue: Promise<unknown> = Promise.resolve();
  let refused: PermissionViolationError | null = null;
  const sub: Subscription = nc.subscribe(writerSubjects(writerId), {
    callback: (err, msg) => {
      if (err instanceof PermissionViolationError) refused = err;
      if (err) return log(`subscription error: ${String(err)}`);
      queue = queue.then(async () => {
        let res: WriterResponse;
        try {
          const a = await answer(WriterRequest.decode(msg.data));
          res = { ok: true, reason: "", detail: a.detail ?? "" };
        } catch (e) {
          res = { ok: false, reason: e instanceof Error ? e.message : String(e), detail: "" };
        }
        msg.respond(WriterResponse.encode(res).finish());
      });
    },
  });
  // The server answers a refused subscription before the flush's pong.
  await nc.flush();
  if (refused) {
    await nc.close();
    throw new RvssError(
      ErrorCodes.CONFIG_INVALID,
      `NATS refused writer ${writerId} its requests (${String(refused)}): its NATS user answers for another writer ID`,
      { writerId },
    );
  }
  try {
    await register();
  } catch (err) {
    await nc.close();
    throw err;
  }
  const heartbeat = setInterval(
    () => void register().catch((err) => log(`heartbeat failed (will retry): ${String(err)}`)),
    heartbeatMs,
  );
  log(`registered as ${writerId} for ${o.shares.map((s) => `${o.svm}/${s.share}`).join(", ")}`);

  return {
    writerId,
    async stop() {
      clearInterval(heartbeat);
      await thaw("finished").catch(() => undefined);
      sub.unsubscribe();
      for (const { key } of keys) await kv.delete(key).catch(() => undefined);
      await nc.drain();
    },
  };
}
