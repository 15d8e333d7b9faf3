/**
 * Who may call what. Every gRPC method has an explicit policy here: the role it needs, or only an
 * authenticated caller (health, reflection). A method without a policy is refused, so a new RPC
 * cannot ship open by accident. Roles nest: admin holds every role; each operator role holds viewer.
 */
import { ErrorCodes, RvssError } from "./errors";

export const ROLES = ["viewer", "backup-operator", "restore-operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** The roles a role includes, itself first. */
const INCLUDES: Record<Role, readonly Role[]> = {
  viewer: ["viewer"],
  "backup-operator": ["backup-operator", "viewer"],
  "restore-operator": ["restore-operator", "viewer"],
  admin: ["admin", "backup-operator", "restore-operator", "viewer"],
};

/** What a method needs: a role, or any authenticated caller. */
export type MethodPolicy = { role: Role } | { authenticated: true };

const viewer: MethodPolicy = { role: "viewer" };
const backupOperator: MethodPolicy = { role: "backup-operator" };
const restoreOperator: MethodPolicy = { role: "restore-operator" };
const admin: MethodPolicy = { role: "admin" };
const anyCaller: MethodPolicy = { authenticated: true };

const agent = (m: string): string => `/rvss.v1.ShadowCopyAgent/${m}`;

/** Every method the coordinator serves, by its gRPC path. */
export const METHOD_POLICIES: Readonly<Record<string, MethodPolicy>> = {
  "/rvss.v1.BackupService/CreateBackup": backupOperator,
  "/rvss.v1.BackupService/GetBackup": viewer,
  "/rvss.v1.BackupService/ListBackups": viewer,
  "/rvss.v1.BackupService/WatchBackup": viewer,
  "/rvss.v1.BackupService/CancelBackup": backupOperator,
  "/rvss.v1.BackupService/ListSnapshots": viewer,
  "/rvss.v1.BackupService/Restore": restoreOperator,
  "/rvss.v1.BackupService/ListRestores": viewer,
  "/rvss.v1.BackupService/GetRestore": viewer,
  // Deleting a backup or a snapshot destroys what restores need: the admin's alone.
  "/rvss.v1.BackupService/DeleteBackup": admin,
  "/rvss.v1.BackupService/DeleteSnapshot": admin,
  "/rvss.v1.ScheduleService/GetSchedule": viewer,
  "/rvss.v1.ScheduleService/ListSchedules": viewer,
  "/rvss.v1.ScheduleService/CreateSchedule": backupOperator,
  "/rvss.v1.ScheduleService/PauseSchedule": backupOperator,
  "/rvss.v1.ScheduleService/UnpauseSchedule": backupOperator,
  "/rvss.v1.ScheduleService/RunSchedule": backupOperator,
  "/rvss.v1.ScheduleService/DeleteSchedule": admin,
  "/rvss.v1.PreflightService/ValidateShare": viewer,
  "/rvss.v1.PreflightService/ValidateDataset": viewer,
  // FSRVP: every operation, the questions included, needs Backup Operators' rights (MS-FSRVP checklist row 2).
  [agent("GetSupportedVersion")]: backupOperator,
  [agent("IsPathSupported")]: backupOperator,
  [agent("IsPathShadowCopied")]: backupOperator,
  [agent("SetContext")]: backupOperator,
  [agent("StartShadowCopySet")]: backupOperator,
  [agent("AddToShadowCopySet")]: backupOperator,
  [agent("PrepareShadowCopySet")]: backupOperator,
  [agent("CommitShadowCopySet")]: backupOperator,
  [agent("ExposeShadowCopySet")]: backupOperator,
  [agent("RecoveryCompleteShadowCopySet")]: backupOperator,
  [agent("AbortShadowCopySet")]: backupOperator,
  [agent("GetShareMapping")]: backupOperator,
  [agent("DeleteShareMapping")]: backupOperator,
  "/rvss.v1.ServerInfoService/GetServerInfo": anyCaller,
  "/grpc.health.v1.Health/Check": anyCaller,
  "/grpc.health.v1.Health/Watch": anyCaller,
  "/grpc.health.v1.Health/List": anyCaller,
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo": anyCaller,
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": anyCaller,
};

/** The methods among `paths` that have no policy. */
export function methodsWithoutPolicy(paths: readonly string[]): string[] {
  return paths.filter((p) => !Object.hasOwn(METHOD_POLICIES, p));
}

export type Decision =
  { allowed: true } | { allowed: false; reason: "unauthenticated" | "no-policy" | "missing-role"; message: string };

/** Whether `principal` (null: none) holding `roles` may call `method`; a refusal names the method and the role. */
export function authorize(method: string, principal: string | null, roles: readonly Role[]): Decision {
  if (principal === null)
    return { allowed: false, reason: "unauthenticated", message: `${method} needs an authenticated caller` };
  const policy = Object.hasOwn(METHOD_POLICIES, method) ? METHOD_POLICIES[method] : undefined;
  if (!policy) return { allowed: false, reason: "no-policy", message: `${method} has no access policy` };
  if ("authenticated" in policy) return { allowed: true };
  if (roles.some((r) => INCLUDES[r].includes(policy.role))) return { allowed: true };
  return {
    allowed: false,
    reason: "missing-role",
    message: `${method} needs role ${policy.role}; ${principal} holds ${roles.length > 0 ? roles.join(", ") : "no role"}`,
  };
}

/** Principals (a client certificate's URI SAN, or `token:<name>`) and the roles each holds. */
export type Policy = ReadonlyMap<string, readonly Role[]>;

const isRole = (r: unknown): r is Role => typeof r === "string" && (ROLES as readonly string[]).includes(r);

/**
 * Reads a policy file's content: `{"principals": {"spiffe://rvss/alice": ["viewer"], ...}}`.
 * Anything else, or an unknown role, is an error naming the file and the entry.
 */
export function parsePolicy(text: string, file: string): Policy {
  const bad = (why: string): RvssError =>
    new RvssError(ErrorCodes.CONFIG_INVALID, `authorization policy ${file}: ${why}`, { file });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  const principals = (doc as { principals?: unknown } | null)?.principals;
  if (typeof principals !== "object" || principals === null || Array.isArray(principals))
    throw bad('needs an object "principals" mapping each principal to its roles');
  const out = new Map<string, Role[]>();
  for (const [principal, roles] of Object.entries(principals)) {
    if (!Array.isArray(roles) || roles.length === 0) throw bad(`principal "${principal}" needs a list of roles`);
    const unknown = roles.find((r) => !isRole(r));
    if (unknown !== undefined)
      throw bad(`principal "${principal}" has unknown role ${JSON.stringify(unknown)} (roles: ${ROLES.join(", ")})`);
    out.set(principal, roles as Role[]);
  }
  return out;
}

/** The first URI SAN of a certificate's subjectAltName text (`URI:spiffe://…, DNS:…`), or null. */
export function uriSanOf(subjectAltName: string | undefined): string | null {
  for (const part of (subjectAltName ?? "").split(",")) {
    const m = /^\s*URI:(\S+)\s*$/.exec(part);
    if (m) return m[1]!;
  }
  return null;
}
