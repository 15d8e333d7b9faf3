import {
  exposedShareName,
  formatUnc,
  parseSnapshotName,
  parseUnc,
  snapshotName,
  toFileTime,
  token,
  svmNameProblem,
  untoken,
} from "./naming";

describe("naming", () => {
  test.each([
    ["vs1", "vs1"],
    ["vs1.corp.example", "vs1=2Ecorp=2Eexample"],
    ["svm_a-1", "svm_a-1"],
    ["a b*>", "a=20b=2A=3E"],
    ["ünï", "=C3=BCn=C3=AF"],
  ])("token(%j) is %j and reads back", (name, tok) => {
    expect(token(name)).toBe(tok);
    expect(token(name)).toMatch(/^[A-Za-z0-9_=-]+$/);
    expect(untoken(tok)).toBe(name);
  });

  test("an empty name is refused", () => {
    expect(() => token("")).toThrow(/empty name/);
  });

  test.each([
    ["share1", "A1B2C3D4-0000-4000-8000-000000000001", "share1@{a1b2c3d4-0000-4000-8000-000000000001}"],
    ["hidden$", "a1b2c3d4-0000-4000-8000-000000000001", "hidden$@{a1b2c3d4-0000-4000-8000-000000000001}$"],
  ])("exposed name of %s", (share, id, expected) => {
    expect(exposedShareName(share, id)).toBe(expected);
  });

  test("snapshot names carry backup, set and time and read back", () => {
    const b = "11111111-2222-4333-8444-555555555555";
    const s = "66666666-7777-4888-9999-000000000000";
    const at = Date.UTC(2026, 10, 25, 11, 4, 32);
    const name = snapshotName(b, s, at);
    expect(name).toBe(`rvss_${b}_${s}_20261125T110432Z`);
    expect(parseSnapshotName(name)).toEqual({ backupId: b, setId: s, takenAt: at });
    expect(parseSnapshotName("hourly.2026-11-25_0005")).toBeNull();
  });

  test.each([
    ["\\\\vs1\\share1", { host: "vs1", share: "share1" }],
    ["\\\\vs1\\share1\\", { host: "vs1", share: "share1" }],
    ["\\\\vs1\\share1\\sub\\dir", { host: "vs1", share: "share1" }],
    ["\\\\vs1\\", null],
    ["\\\\\\share1", null],
    ["vs1\\share1", null],
    ["//vs1/share1", null],
  ])("parseUnc(%j)", (unc, expected) => {
    expect(parseUnc(unc)).toEqual(expected);
  });

  test("formatUnc", () => {
    expect(formatUnc("vs1", "share1")).toBe("\\\\vs1\\share1");
  });
});

test("FILETIME counts 100 ns ticks since 1601", () => {
  expect(toFileTime(0)).toBe(116444736000000000n);
  expect(toFileTime(Date.UTC(2026, 0, 1))).toBe(134116992000000000n);
});

describe("svmNameProblem", () => {
  test.each([
    ["vs1", null],
    ["svm_a-1.corp.example", null],
    ["", /empty/],
    ["../../etc", /is not an SVM name/],
    ["a..b", /is not an SVM name/],
    [".hidden", /is not an SVM name/],
    ["a/b", /is not an SVM name/],
    ["a b", /is not an SVM name/],
    ["x".repeat(254), /254 characters long \(at most 253\)/],
  ])("%j", (name, problem) => {
    const p = svmNameProblem(name);
    if (problem === null) expect(p).toBeNull();
    else expect(p).toMatch(problem);
  });
});
