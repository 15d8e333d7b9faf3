import {
  LayoutTally,
  isVmFileName,
  notRegular,
  shareVms,
  strayAtRoot,
  tooDeep,
  vmsSplitAcrossShares,
  type EntryKind,
  type LayoutEntry,
} from "./layout";

const where = { svm: "vs1", share: "share1" };

function entry(path: string, kind: EntryKind = "file"): LayoutEntry {
  const segments = path.split("/").length;
  return { path, kind, depth: segments - 1 };
}

function check(entries: LayoutEntry[], depthLimit = 5, listed: string[] = [], maxListed?: number): LayoutTally {
  const t = new LayoutTally({ where, depthLimit, listed: new Set(listed), ...(maxListed ? { maxListed } : {}) });
  t.add(entries);
  return t;
}

describe("rule 1: only directories and regular files", () => {
  test.each([
    [
      "symlink",
      "not-regular",
      /"vm1\/x" in share "share1" is a symbolic link; a Remote VSS share may hold only directories and regular files/,
    ],
    ["fifo", "not-regular", /is a FIFO/],
    ["socket", "not-regular", /is a socket/],
    ["device", "not-regular", /is a device/],
    [
      "junction",
      "junction-below-share",
      /"vm1\/x" in share "share1" is a volume junction; Remote VSS cannot copy across volumes/,
    ],
  ] as const)("a %s is refused as %s", (kind, rule, message) => {
    expect(notRegular(entry("vm1/x", kind), where)).toEqual({
      path: "vm1/x",
      rule,
      message: expect.stringMatching(message),
    });
  });

  test.each(["file", "directory"] as const)("a %s is fine", (kind) => {
    expect(notRegular(entry("vm1/x", kind), where)).toBeNull();
  });
});

describe("rule 3: depth within the shadow copy directory depth", () => {
  test.each([
    // [limit, entry, kind, too deep?]
    [5, "a/b/c/d/e/vm.vhdx", "file", false],
    [5, "a/b/c/d/e", "directory", false],
    [5, "a/b/c/d/e/f", "directory", true],
    [1, "vm1/disk.vhdx", "file", false],
    [1, "vm1/sub", "directory", true],
    [0, "a/b/c/d/e/f/g/h/i", "directory", false],
  ] as const)("limit %d: %s (%s) too deep: %s", (limit, path, kind, deep) => {
    const v = tooDeep(entry(path, kind), limit, where);
    expect(v?.rule).toBe(deep ? "too-deep" : undefined);
  });

  test("one past the limit is reported once, at the first directory too deep, naming the limit", () => {
    const t = check(
      [
        entry("a", "directory"),
        entry("a/b", "directory"),
        entry("a/b/c", "directory"),
        entry("a/b/c/d.vhdx"),
        entry("a/b/c/e", "directory"),
        entry("a/b/c/e/f.vhdx"),
      ],
      2,
    );
    expect(t.violations).toEqual([
      {
        path: "a/b/c",
        rule: "too-deep",
        message:
          'directory "a/b/c" in share "share1" is nested 3 levels deep; SVM "vs1" copies at most 2 (shadow copy directory depth)',
      },
    ]);
    expect(t.deepestFile).toBe(4);
  });

  test("exactly at the limit is clean, and limit 0 means unlimited", () => {
    const atLimit = [entry("a", "directory"), entry("a/b", "directory"), entry("a/b/disk.vhdx")];
    expect(check(atLimit, 2).violations).toEqual([]);
    const deep = Array.from({ length: 30 }, (_, i) =>
      entry(Array.from({ length: i + 1 }, () => "d").join("/"), "directory"),
    );
    expect(check(deep, 0).violations).toEqual([]);
  });
});

describe("rule 4: the share root holds only VM files or VM directories", () => {
  test.each([
    ["vm1.vhdx", false],
    ["VM1.VHDX", false],
    ["0F1E2D3C.vmcx", false],
    ["disk.vhdx.rct", false],
    ["notes.txt", true],
    ["vhdx", true],
    [".vhdx", true],
  ])("a root file %j is stray: %s", (name, stray) => {
    expect(strayAtRoot(entry(name), new Set(), where)?.rule).toBe(stray ? "stray-at-root" : undefined);
  });

  test("a root file the request lists is a VM file whatever its name", () => {
    expect(strayAtRoot(entry("notes.txt"), new Set(["notes.txt"]), where)).toBeNull();
  });

  test("only root files count; directories are VM directories; non-regular entries are rule 1 only", () => {
    const t = check([entry("vm1", "directory"), entry("vm1/notes.txt"), entry("readme.md"), entry("link", "symlink")]);
    expect(t.violations.map((v) => [v.path, v.rule])).toEqual([
      ["readme.md", "stray-at-root"],
      ["link", "not-regular"],
    ]);
    expect(isVmFileName("vm1.vhd")).toBe(true);
  });
});

describe("the tally", () => {
  test("counts what it saw and keeps the top-level directories as the default VMs", () => {
    const t = check([
      entry("vm1", "directory"),
      entry("vm2", "directory"),
      entry("vm1/a", "directory"),
      entry("vm1/a/d.vhdx"),
      entry("x.vhdx"),
      entry("p", "fifo"),
    ]);
    expect([t.files, t.directories, t.others, t.deepestFile, t.topDirectories]).toEqual([2, 3, 1, 2, ["vm1", "vm2"]]);
  });

  test("lists at most maxListed violations and counts the rest", () => {
    const t = check(
      Array.from({ length: 5 }, (_, i) => entry(`stray${i}.txt`)),
      5,
      [],
      3,
    );
    expect([t.violations.length, t.notListed]).toEqual([3, 2]);
  });
});

describe("rule 2: all files of one VM inside one share", () => {
  test("a VM name in two shares is reported in each, naming both", () => {
    const v = vmsSplitAcrossShares([
      { svm: "vs1", share: "share1", vms: shareVms([], ["vm1", "vm2"]) },
      { svm: "vs1", share: "share2", vms: shareVms([], ["VM1", "vm3"]) },
      { svm: "vs2", share: "share9", vms: shareVms([{ name: "vm3", files: ["x/vm3.vhdx"] }], ["other"]) },
    ]);
    expect(v.map((x) => [x.svm, x.share, x.path, x.rule])).toEqual([
      ["vs1", "share1", "vm1", "vm-split-across-shares"],
      ["vs1", "share2", "VM1", "vm-split-across-shares"],
      ["vs1", "share2", "vm3", "vm-split-across-shares"],
      ["vs2", "share9", "x/vm3.vhdx", "vm-split-across-shares"],
    ]);
    expect(v[0]!.message).toBe(
      'VM "vm1" has files in 2 shares (vs1/share1, vs1/share2); all files of one VM must be in one share',
    );
  });

  test("named VMs replace the default: distinct names in two shares are fine", () => {
    expect(
      vmsSplitAcrossShares([
        { svm: "vs1", share: "share1", vms: shareVms([{ name: "web-a", files: ["vm1/a.vhdx"] }], ["vm1"]) },
        { svm: "vs1", share: "share2", vms: shareVms([{ name: "web-b", files: ["vm1/b.vhdx"] }], ["vm1"]) },
      ]),
    ).toEqual([]);
  });
});
