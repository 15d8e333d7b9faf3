import { checkLabels, checkName, matchesSelector, parseSelector, resolveBackupRef } from "./labels";
import { isRvssError } from "./errors";

describe("names", () => {
  test.each(["nightly", "db-1", "a"])("%s is a name", (n) => expect(checkName("backup name", n)).toBe(n));
  test.each(["Nightly", "-a", "a-", "a_b", "", "x".repeat(64), "a.b"])("%j is refused", (n) => {
    expect(() => checkName("backup name", n)).toThrow(`backup name "${n}" is not valid`);
  });
  test("a shorter limit for schedules", () =>
    expect(() => checkName("schedule name", "x".repeat(45), 44)).toThrow("1-44"));
});

describe("labels and selectors", () => {
  test("labels as Kubernetes has them", () => {
    expect(checkLabels({ app: "sql", "rvss.io/tier": "gold", empty: "" })).toEqual({
      app: "sql",
      "rvss.io/tier": "gold",
      empty: "",
    });
    expect(() => checkLabels({ "bad key": "x" })).toThrow('label key "bad key" is not valid');
    expect(() => checkLabels({ app: "a b" })).toThrow('label "app" has an invalid value "a b"');
  });

  const labels = { app: "sql", tier: "gold" };
  test.each([
    ["", true],
    ["app=sql", true],
    ["app==sql", true],
    ["app=web", false],
    ["app!=web", true],
    ["app=sql,tier=gold", true],
    ["app=sql,tier=silver", false],
    ["tier", true],
    ["!tier", false],
    ["owner", false],
    ["!owner", true],
    ["owner!=x", true],
  ])("%j selects {app: sql, tier: gold}: %s", (sel, hit) => {
    expect(matchesSelector(labels, parseSelector(sel))).toBe(hit);
  });

  test.each(["app=sql=x", "=x", "app=,", "a b=c", "!", "app=a b"])("selector %j does not parse", (sel) => {
    let err: unknown;
    try {
      parseSelector(sel);
    } catch (e) {
      err = e;
    }
    expect(isRvssError(err, "INVALID_ARGUMENT")).toBe(true);
    expect((err as Error).message).toMatch(/label selector|label key|label "/);
  });
});

describe("which backup a reference means", () => {
  const backups = [
    { id: "0f1e2d3c-0000-4000-8000-000000000001", name: "nightly-1" },
    { id: "0f1e2d3c-0000-4000-8000-000000000002" },
    { id: "abcd0000-0000-4000-8000-000000000003", name: "abcd" },
  ];
  test.each([
    ["0f1e2d3c-0000-4000-8000-000000000002", backups[1]!.id],
    ["nightly-1", backups[0]!.id],
    ["abcd", backups[2]!.id],
    ["0F1E2D3C-0000-4000-8000-000000000001".slice(0, 36).toLowerCase(), backups[0]!.id],
    ["0f1e2d3c-0000-4000-8000-0000000000", "ambiguous"],
    ["abcd00", backups[2]!.id],
    ["0f1", "unknown"],
    ["nope", "unknown"],
  ])("%s -> %s", (ref, want) => {
    if (want === "ambiguous") expect(() => resolveBackupRef(ref, backups)).toThrow(/matches 2 backups/);
    else if (want === "unknown") expect(() => resolveBackupRef(ref, backups)).toThrow(`backup "${ref}" does not exist`);
    else expect(resolveBackupRef(ref, backups)).toBe(want);
  });
});
