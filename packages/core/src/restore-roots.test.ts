import { restoreRootOf, restoreTargetProblem } from "./restore-roots";

describe("restoreTargetProblem", () => {
  const roots = ["/srv/restores", "/tmp"];
  test.each([
    ["/srv/restores/r1", null],
    ["/srv/restores", null],
    ["/tmp/x/y", null],
    ["/srv/restoresX/r1", /outside the restore roots \(\/srv\/restores, \/tmp; RVSS_RESTORE_ROOTS\)/],
    ["/etc/cron.d", /outside the restore roots/],
    ["/root/.ssh-x", /outside the restore roots/],
    ["/tmp/../etc", /normalised path/],
    ["/tmp//x", /normalised path/],
    ["relative/dir", /absolute path/],
  ])("%j", (target, problem) => {
    const p = restoreTargetProblem(target, roots);
    if (problem === null) expect(p).toBeNull();
    else expect(p).toMatch(problem);
  });

  test("no roots: directory restores are off", () => {
    expect(restoreTargetProblem("/tmp/x", [])).toMatch(/set RVSS_RESTORE_ROOTS/);
  });
});

describe("restoreRootOf", () => {
  test.each([
    ["/srv/restores/r1", ["/srv/restores", "/tmp"], "/srv/restores"],
    ["/srv/restores", ["/srv/restores"], "/srv/restores"],
    ["/srv/restores/a/b", ["/srv", "/srv/restores/a", "/srv/restores"], "/srv/restores/a"],
    ["/srv/x", ["/srv/"], "/srv/"],
    ["/srv/restoresX", ["/srv/restores"], null],
    ["/etc", [], null],
  ])("%j in %j", (target, roots, root) => {
    expect(restoreRootOf(target, roots)).toBe(root);
  });
});
