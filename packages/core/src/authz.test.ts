import { ROLES, authorize, methodsWithoutPolicy, parsePolicy, uriSanOf, type Role } from "./authz";

const CREATE = "/rvss.v1.BackupService/CreateBackup";
const GET = "/rvss.v1.BackupService/GetBackup";
const RESTORE = "/rvss.v1.BackupService/Restore";
const SET_CONTEXT = "/rvss.v1.ShadowCopyAgent/SetContext";
const HEALTH = "/grpc.health.v1.Health/Check";

describe("authorize", () => {
  test.each<[string, Role[], boolean]>([
    [GET, ["viewer"], true],
    [CREATE, ["viewer"], false],
    [CREATE, ["backup-operator"], true],
    [CREATE, ["restore-operator"], false],
    [RESTORE, ["backup-operator"], false],
    [RESTORE, ["restore-operator"], true],
    [RESTORE, ["viewer", "restore-operator"], true],
    [SET_CONTEXT, ["viewer"], false],
    [SET_CONTEXT, ["backup-operator"], true],
    [GET, ["backup-operator"], true],
    [CREATE, ["admin"], true],
    [RESTORE, ["admin"], true],
    [HEALTH, [], true],
    [GET, [], false],
  ])("%s with roles %j: allowed %s", (method, roles, allowed) => {
    expect(authorize(method, "spiffe://rvss.test/someone", roles).allowed).toBe(allowed);
  });

  test("a refusal names the method, the role it needs and what the caller holds", () => {
    expect(authorize(CREATE, "spiffe://rvss.test/v", ["viewer"])).toEqual({
      allowed: false,
      reason: "missing-role",
      message: `${CREATE} needs role backup-operator; spiffe://rvss.test/v holds viewer`,
    });
    expect(authorize(CREATE, "spiffe://rvss.test/n", [])).toMatchObject({ message: /holds no role$/ });
  });

  test("no principal is unauthenticated, even for health", () => {
    expect(authorize(HEALTH, null, ["admin"])).toMatchObject({ allowed: false, reason: "unauthenticated" });
  });

  test("a method without a policy is refused, whatever the roles", () => {
    expect(authorize("/rvss.v1.BackupService/Unknown", "p", [...ROLES])).toMatchObject({
      allowed: false,
      reason: "no-policy",
    });
    expect(methodsWithoutPolicy([CREATE, "/x.Y/Z", "/x.Y/toString"])).toEqual(["/x.Y/Z", "/x.Y/toString"]);
  });
});

describe("parsePolicy", () => {
  test("maps principals to roles", () => {
    const p = parsePolicy('{"principals": {"spiffe://a": ["viewer", "admin"], "token:dash": ["viewer"]}}', "p.json");
    expect(p.get("spiffe://a")).toEqual(["viewer", "admin"]);
    expect(p.get("token:dash")).toEqual(["viewer"]);
  });

  test.each([
    ["not json", /p\.json: not JSON/],
    ["{}", /needs an object "principals"/],
    ['{"principals": {"a": []}}', /principal "a" needs a list of roles/],
    ['{"principals": {"a": ["root"]}}', /principal "a" has unknown role "root" \(roles: viewer, /],
  ])("%s is refused", (text, message) => {
    expect(() => parsePolicy(text, "p.json")).toThrow(message);
  });
});

describe("uriSanOf", () => {
  test.each([
    ["URI:spiffe://rvss.test/coordinator", "spiffe://rvss.test/coordinator"],
    ["DNS:localhost, URI:spiffe://rvss.test/a, URI:spiffe://rvss.test/b", "spiffe://rvss.test/a"],
    ["DNS:localhost, IP Address:127.0.0.1", null],
    [undefined, null],
  ])("%j gives %j", (san, principal) => {
    expect(uriSanOf(san)).toBe(principal);
  });
});
