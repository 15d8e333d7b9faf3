/**
 * Who is calling the coordinator, and may they. Each listener has one way to know the caller: the
 * mTLS listener the client certificate's URI SAN, the token listener a bearer token. One interceptor
 * per listener finds the principal, looks its roles up in the policy file and refuses the call before
 * any handler runs (UNAUTHENTICATED, PERMISSION_DENIED naming the method and role; E_ACCESSDENIED for
 * FSRVP). Handlers learn the principal and its roles from PRINCIPAL_HEADER and ROLES_HEADER, which
 * the interceptor always overwrites.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from "@grpc/grpc-js";
import {
  ErrorCodes,
  FsrvpError,
  HRESULT,
  METHOD_POLICIES,
  RvssError,
  authorize,
  errorMessage,
  parsePolicy,
  uriSanOf,
  type AgentCaller,
  type Policy,
  type Role,
} from "@rvss/core";
import type { GrpcSecurity, Logger } from "@rvss/runtime";
import { toServiceError } from "./grpc-errors";

/** The metadata entries that carry the authenticated principal and its roles to the handlers. */
export const PRINCIPAL_HEADER = "x-rvss-principal";
export const ROLES_HEADER = "x-rvss-roles";

/** The principal the interceptor authenticated for this call. */
export function principalOf(call: { metadata: Metadata }): string {
  const p = call.metadata.get(PRINCIPAL_HEADER)[0];
  if (typeof p !== "string" || p === "")
    throw new RvssError(ErrorCodes.INTERNAL, "the call reached its handler without an authenticated principal");
  return p;
}

/** The caller of an agent call: its principal, and whether it is an admin (who may act on any set). */
export function callerOf(call: { metadata: Metadata }): AgentCaller {
  const roles = String(call.metadata.get(ROLES_HEADER)[0] ?? "").split(",");
  return { principal: principalOf(call), admin: roles.includes("admin") };
}

/** How a listener identifies its callers; null when the call carries no identity it accepts. */
type Identify = (call: ServerInterceptingCallInterface, md: Metadata) => string | null;

/** The principal of an mTLS call: its client certificate's first URI SAN. */
export const byClientCertificate: Identify = (call) =>
  uriSanOf(call.getAuthContext().sslPeerCertificate?.subjectaltname);

/** The principal of a token call, `token:<name>`; tokens are known by their SHA-256 only. */
export function byBearerToken(tokens: ReadonlyMap<string, Buffer>): Identify {
  return (_call, md) => {
    const header = md.get("authorization")[0];
    const m = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) return null;
    const digest = createHash("sha256").update(m[1]!).digest();
    for (const [name, known] of tokens) if (timingSafeEqual(digest, known)) return `token:${name}`;
    return null;
  };
}

/** With RVSS_AUTH=off every caller is an admin known by its address. */
export const byPeerAddress: Identify = (call) => `peer:${call.getPeer().replace(/^ipv[46]:/, "")}`;

function readFile(file: string, variable: string, what: string): Buffer {
  if (file === "") throw new RvssError(ErrorCodes.CONFIG_INVALID, `${variable} is not set: ${what}`, { variable });
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new RvssError(ErrorCodes.CONFIG_INVALID, `${variable}=${file}: cannot read ${what}: ${errorMessage(err)}`, {
      variable,
      file,
    });
  }
}

/** The policy file RVSS_AUTHZ_POLICY names. */
export function loadPolicy(sec: GrpcSecurity): Policy {
  return parsePolicy(
    readFile(sec.policyFile, "RVSS_AUTHZ_POLICY", "the authorization policy").toString(),
    sec.policyFile,
  );
}

/** The tokens file RVSS_GRPC_TOKENS_FILE names: `{"<name>": "<sha256 hex>"}`. */
export function loadTokens(sec: GrpcSecurity): Map<string, Buffer> {
  const text = readFile(sec.tokensFile, "RVSS_GRPC_TOKENS_FILE", "the bearer tokens").toString();
  const bad = (why: string): RvssError =>
    new RvssError(ErrorCodes.CONFIG_INVALID, `tokens file ${sec.tokensFile}: ${why}`, { file: sec.tokensFile });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${errorMessage(err)})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw bad("needs an object of name: sha256");
  const out = new Map<string, Buffer>();
  for (const [name, hex] of Object.entries(doc)) {
    if (typeof hex !== "string" || !/^[0-9a-f]{64}$/i.test(hex))
      throw bad(`token "${name}" needs the SHA-256 of the token as 64 hex digits`);
    out.set(name, Buffer.from(hex, "hex"));
  }
  return out;
}

const isAgentMethod = (path: string): boolean => path.startsWith("/rvss.v1.ShadowCopyAgent/");

/** Methods that change nothing; every other allowed call is audited. */
const readsOnly = (path: string): boolean => {
  const p = METHOD_POLICIES[path];
  return p !== undefined && ("authenticated" in p || p.role === "viewer");
};

/** One audit record: who called what, and whether it was let through. Never a token or a request body. */
export interface AuditRecord {
  auditId: string;
  time: string;
  principal: string | null;
  roles: readonly Role[];
  authn: "mtls" | "token" | "off";
  peer: string;
  method: string;
  decision: "allowed" | "denied";
  reason?: string;
}

/** Where audit records go besides the log (the RVSS_AUDIT stream). */
export type AuditSink = (r: AuditRecord) => void;

/**
 * The interceptor of one listener: authenticate with `identify`, authorize with `policy`, and audit
 * every refused call and every allowed one that changes something.
 */
export function authInterceptor(
  identify: Identify,
  policy: Policy | "everyone-admin",
  authn: "mtls" | "token" | "off",
  log: Logger,
  sink: AuditSink,
): ServerInterceptor {
  return (method: ServerMethodDefinition<unknown, unknown>, call: ServerInterceptingCallInterface) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(md, mdNext) {
            md.remove(PRINCIPAL_HEADER);
            md.remove(ROLES_HEADER);
            const principal = identify(call, md);
            const roles: readonly Role[] =
              principal === null ? [] : policy === "everyone-admin" ? ["admin"] : (policy.get(principal) ?? []);
            const d = authorize(method.path, principal, roles);
            const record = (decision: "allowed" | "denied", reason?: string): AuditRecord => ({
              auditId: randomUUID(),
              time: new Date().toISOString(),
              principal,
              roles,
              authn,
              peer: call.getPeer(),
              method: method.path,
              decision,
              ...(reason ? { reason } : {}),
            });
            if (!d.allowed) {
              const r = record("denied", d.reason);
              log.warn({ audit: true, ...r }, d.message);
              sink(r);
              call.sendStatus(refusal(method.path, d.reason === "unauthenticated", d.message));
              return;
            }
            md.set(PRINCIPAL_HEADER, principal!);
            md.set(ROLES_HEADER, roles.join(","));
            if (!readsOnly(method.path)) {
              const r = record("allowed");
              log.info({ audit: true, ...r }, `${method.path} by ${principal}`);
              sink(r);
            }
            mdNext(md);
          },
        });
      },
    });
}

function refusal(path: string, unauthenticated: boolean, message: string) {
  const e = unauthenticated
    ? new RvssError(ErrorCodes.UNAUTHENTICATED, message, { method: path })
    : isAgentMethod(path)
      ? FsrvpError.of(HRESULT.E_ACCESSDENIED, message, { method: path })
      : new RvssError(ErrorCodes.PERMISSION_DENIED, message, { method: path });
  const s = toServiceError(e);
  return { code: s.code!, details: s.details!, metadata: s.metadata ?? new Metadata() };
}
