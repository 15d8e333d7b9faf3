/**
 * One HTTPS client per ONTAP cluster (undici): keep-alive connections, at most `maxInFlight`
 * requests at once (undici's per-origin connection limit; one management LIF is used at a time),
 * async jobs followed to their end, idempotent calls retried on a 5xx or a lost connection, and a
 * write retried only after a re-read showed it did not happen. Every failure is an RvssError that
 * says what rvss was doing, on which cluster and SVM, the call, and ONTAP's own error body.
 */
import { createSecureContext } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent } from "undici";
import { ErrorCodes, RvssError, type ErrorCode, type ErrorDetails } from "@rvss/core";
import type { OntapClusterConfig } from "./config";

/** What a call is for, to name it in errors: `what` reads "cloning X into Y", details locate it. */
export interface CallContext extends ErrorDetails {
  what: string;
  svm: string;
}

export interface CallOptions {
  query?: Record<string, string | number | boolean>;
  body?: unknown;
  ctx: CallContext;
  /** HTTP statuses handed back to the caller instead of thrown (404: gone, 409: exists). */
  allow?: number[];
  /** For a POST: true when what the POST makes is there already; lets a failed POST be retried. */
  reread?: () => Promise<boolean>;
  /**
   * Ask ONTAP to hold the answer until the job ends (return_timeout): 200 or 201 then says it
   * succeeded, and only a 202 is polled. Not every POST takes it.
   */
  waitForJob?: boolean;
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  /** How the call's job ended: "unknown" when ONTAP no longer knows the job (it may 404). */
  job: "success" | "unknown" | null;
  /** True when a re-read before a retry found the write done. */
  reread: boolean;
}

interface OntapErrorBody {
  message?: string;
  code?: string | number;
  target?: string;
}

/** The ONTAP error body carried into an RvssError's details. */
function errorDetails(e: OntapErrorBody | undefined): ErrorDetails {
  if (!e) return {};
  const out: ErrorDetails = {};
  if (e.message !== undefined) out["ontapMessage"] = String(e.message);
  // ONTAP's model types the code as a string, its overview as an integer: keep it as text.
  if (e.code !== undefined) out["ontapCode"] = String(e.code);
  if (e.target !== undefined) out["ontapTarget"] = String(e.target);
  return out;
}

function describeError(e: OntapErrorBody | undefined): string {
  if (!e?.message) return "";
  const extra = [e.code !== undefined ? `error ${e.code}` : "", e.target ? `target ${e.target}` : ""].filter(Boolean);
  return `: "${e.message}"${extra.length ? ` (${extra.join(", ")})` : ""}`;
}

/** Connection failures worth another attempt (at the next management address). */
const TRANSIENT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CLOSED",
]);

class Transient extends Error {
  constructor(
    readonly address: string,
    message: string,
  ) {
    super(message);
  }
}

export class OntapClient {
  private readonly agent: Agent;
  private readonly headers: Record<string, string>;
  private readonly bodyHeaders: Record<string, string>;
  private current = 0;

  constructor(readonly cluster: OntapClusterConfig) {
    const auth = cluster.auth;
    this.agent = new Agent({
      connections: cluster.maxInFlight,
      keepAliveTimeout: 30_000,
      headersTimeout: (cluster.returnTimeoutS + 60) * 1000,
      bodyTimeout: 60_000,
      // One TLS context for every connection to the cluster: its CA bundle and key are parsed once.
      connect: {
        secureContext: createSecureContext({
          ...(cluster.ca !== null ? { ca: cluster.ca } : {}),
          ...(auth.kind === "certificate" ? { cert: auth.cert, key: auth.key } : {}),
        }),
      },
    });
    this.headers = {
      accept: "application/json",
      // Lets the cluster's administrators attribute the load (trident sends the same header).
      "x-dot-client-app": "rvss",
      ...(auth.kind === "password"
        ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}` }
        : {}),
    };
    this.bodyHeaders = { ...this.headers, "content-type": "application/json" };
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private where(ctx: CallContext): string {
    return `${ctx.what} (SVM "${ctx.svm}", cluster "${this.cluster.name}")`;
  }

  private fail(code: ErrorCode, ctx: CallContext, message: string, extra: ErrorDetails = {}): RvssError {
    const { what: _what, ...details } = ctx;
    return new RvssError(code, `${this.where(ctx)}: ${message}`, {
      ...details,
      cluster: this.cluster.name,
      ...extra,
    });
  }

  /**
   * One request on the cluster's pool, its answer gathered as text: undici's dispatch without the
   * stream a `request` wraps every answer in (an answer is a few hundred bytes of JSON).
   */
  private send(
    method: string,
    origin: string,
    path: string,
    body: unknown,
  ): Promise<{ statusCode: number; text: string }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let statusCode = 0;
      this.agent.dispatch(
        {
          origin,
          path,
          method: method as "GET",
          headers: body === undefined ? this.headers : this.bodyHeaders,
          body: body === undefined ? null : JSON.stringify(body),
        },
        {
          onConnect: () => undefined,
          onHeaders: (status) => {
            statusCode = status;
            return true;
          },
          onData: (chunk) => {
            chunks.push(chunk);
            return true;
          },
          onComplete: () => resolve({ statusCode, text: Buffer.concat(chunks).toString("utf8") }),
          onError: reject,
        },
      );
    });
  }

  /** One exchange with the current management address; a lost connection moves to the next one. */
  private async exchange(method: string, url: string, body: unknown, ctx: CallContext, at: number): Promise<Answer> {
    const address = this.cluster.addresses[at % this.cluster.addresses.length]!;
    try {
      const res = await this.send(method, `https://${address}`, url, body);
      const text = res.text;
      let parsed: Record<string, unknown> = {};
      if (text !== "") {
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          if (res.statusCode < 500)
            throw this.fail(
              ErrorCodes.STORAGE_FAILED,
              ctx,
              `${method} ${url} answered HTTP ${res.statusCode} without JSON`,
            );
        }
      }
      return { status: res.statusCode, body: parsed, job: null, reread: false };
    } catch (err) {
      if (err instanceof RvssError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? "";
      const cause = (err as { cause?: NodeJS.ErrnoException }).cause?.code ?? "";
      if (TRANSIENT.has(code) || TRANSIENT.has(cause)) {
        // Later calls start at the next address too.
        this.current = at + 1;
        throw new Transient(address, (err as Error).message || code || cause);
      }
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code + cause))
        throw this.fail(
          ErrorCodes.CONFIG_INVALID,
          ctx,
          `the certificate of ${address} is not trusted (${code || cause}); give the cluster's CA in "caFile"`,
        );
      throw this.fail(
        ErrorCodes.STORAGE_FAILED,
        ctx,
        `${method} ${url} to ${address} failed: ${(err as Error).message}`,
      );
    }
  }

  /**
   * Calls ONTAP and follows a job the call started to its end. GET, PATCH and DELETE are retried on a
   * 5xx or a lost connection; a POST only when `reread` is given and shows it did not take effect.
   */
  async call(method: "GET" | "POST" | "PATCH" | "DELETE", path: string, opts: CallOptions): Promise<Answer> {
    const query = { ...opts.query };
    if (opts.waitForJob && method !== "GET" && this.cluster.returnTimeoutS > 0)
      query["return_timeout"] = this.cluster.returnTimeoutS;
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
    const url = `/api${path}${qs ? `?${qs}` : ""}`;
    const retryable = method !== "POST" || opts.reread !== undefined;
    let last = "";
    let lastError: ErrorDetails = {};
    let attempts = 0;
    const lost = new Map<string, string>();
    // Each call walks the addresses on its own from where the last failure left off.
    let at = this.current;
    for (let attempt = 1; attempt <= this.cluster.attempts; attempt++) {
      attempts = attempt;
      if (attempt > 1) {
        await sleep(200 * 2 ** (attempt - 2) * (0.5 + Math.random()));
        if (opts.reread && (await opts.reread())) return { status: 200, body: {}, job: null, reread: true };
      }
      let answer: Answer;
      try {
        answer = await this.exchange(method, url, opts.body, opts.ctx, at);
      } catch (err) {
        if (!(err instanceof Transient)) throw err;
        at++;
        lost.set(err.address, err.message);
        last = `the connection failed (${[...lost].map(([a, m]) => `${a}: ${m}`).join("; ")})`;
        if (!retryable) break;
        continue;
      }
      if (answer.status >= 500 && !opts.allow?.includes(answer.status)) {
        const e = answer.body["error"] as OntapErrorBody | undefined;
        last = `${method} ${url} answered HTTP ${answer.status}${describeError(e)}`;
        lastError = { status: answer.status, ...errorDetails(e) };
        if (!retryable) break;
        continue;
      }
      return this.settle(method, url, answer, opts);
    }
    throw this.fail(ErrorCodes.STORAGE_FAILED, opts.ctx, `${last}, after ${attempts} attempt(s)`, {
      call: `${method} ${url}`,
      ...lastError,
    });
  }

  private async settle(method: string, url: string, answer: Answer, opts: CallOptions): Promise<Answer> {
    const { status, body } = answer;
    if (status >= 400) {
      if (opts.allow?.includes(status)) return answer;
      const e = body["error"] as OntapErrorBody | undefined;
      const code =
        status === 401 || status === 403
          ? ErrorCodes.CONFIG_INVALID
          : status === 404
            ? ErrorCodes.STORAGE_FAILED
            : status < 500
              ? ErrorCodes.INVALID_ARGUMENT
              : ErrorCodes.STORAGE_FAILED;
      const hint =
        status === 401
          ? " (the user name or password in the filer description is wrong)"
          : status === 403
            ? " (the cluster user lacks a privilege rvss needs; see the README's ONTAP backend section)"
            : "";
      throw this.fail(code, opts.ctx, `${method} ${url} answered HTTP ${status}${describeError(e)}${hint}`, {
        call: `${method} ${url}`,
        status,
        ...errorDetails(e),
      });
    }
    const job = (body["job"] as { uuid?: string } | undefined)?.uuid;
    if (!job) return answer;
    // Held by return_timeout, a job that ended answers 200 or 201: done, nothing to poll (ONTAP's
    // asynchronous processing documentation). A 202 is a job still running, or one that failed.
    if (status !== 202) return { ...answer, job: "success" };
    return { ...answer, job: await this.awaitJob(job, `${method} ${url}`, opts.ctx) };
  }

  /** Polls a job with backoff (250 ms growing to 2 s) until it ends or `jobTimeoutMs` passes. */
  private async awaitJob(uuid: string, call: string, ctx: CallContext): Promise<"success" | "unknown"> {
    const deadline = Date.now() + this.cluster.jobTimeoutMs;
    let wait = 250;
    for (;;) {
      const a = await this.call("GET", `/cluster/jobs/${uuid}`, {
        query: { fields: "state,message,code,error" },
        ctx,
        allow: [404],
      });
      // A job ONTAP no longer knows (seen on FSx for ONTAP): the caller reads the result back.
      if (a.status === 404) return "unknown";
      const state = String(a.body["state"] ?? "");
      if (state === "success") return "success";
      if (state === "failure") {
        const e = (a.body["error"] as OntapErrorBody | undefined) ?? {
          message: a.body["message"] as string,
          code: a.body["code"] as number,
        };
        throw this.fail(ErrorCodes.STORAGE_FAILED, ctx, `the job of ${call} failed${describeError(e)}`, {
          call,
          job: uuid,
          ...errorDetails(e),
        });
      }
      if (Date.now() + wait > deadline)
        throw this.fail(
          ErrorCodes.TIMEOUT,
          ctx,
          `the job of ${call} is still ${state || "pending"} after ${this.cluster.jobTimeoutMs} ms`,
          { call, job: uuid },
        );
      await sleep(wait);
      wait = Math.min(2000, Math.round(wait * 1.5));
    }
  }

  /** The body of a GET, or null on 404. */
  async get(path: string, query: Record<string, string | number | boolean>, ctx: CallContext) {
    const a = await this.call("GET", path, { query, ctx, allow: [404] });
    return a.status === 404 ? null : a.body;
  }

  /** Every record of a collection, following `_links.next` (ONTAP pages at max_records or its own timeout). */
  async records<T>(path: string, query: Record<string, string | number | boolean>, ctx: CallContext): Promise<T[]> {
    const out: T[] = [];
    let a = await this.call("GET", path, { query, ctx, allow: [404] });
    for (;;) {
      if (a.status === 404) return out;
      out.push(...((a.body["records"] as T[] | undefined) ?? []));
      const next = (a.body["_links"] as { next?: { href?: string } } | undefined)?.next?.href;
      if (!next) return out;
      const u = new URL(next, "https://x");
      a = await this.call("GET", u.pathname.replace(/^\/api/, ""), {
        query: Object.fromEntries(u.searchParams),
        ctx,
        allow: [404],
      });
    }
  }
}

/** A volume-relative path as the files API takes it in the URL: "/" as %2F and "." as %2E. */
export function filesPath(volumeUuid: string, rel: string): string {
  return `/storage/volumes/${volumeUuid}/files/${encodeURIComponent(rel).replace(/\./g, "%2E")}`;
}
