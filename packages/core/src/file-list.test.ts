import { checkFileList } from "./file-list";

describe("file list rules", () => {
  test.each([
    ["vm1/disk.vhdx", "vm1/disk.vhdx"],
    ["./vm1//disk.vhdx", "vm1/disk.vhdx"],
    ["vm1\\Virtual Hard Disks\\disk.vhdx", "vm1/Virtual Hard Disks/disk.vhdx"],
    ["vm1/disk.vhdx/", "vm1/disk.vhdx"],
  ])("%j is normalised to %j", (raw, expected) => {
    expect(checkFileList([raw])).toEqual({ files: [expected], problems: [] });
  });

  test.each([
    ["/etc/passwd", "absolute-path"],
    ["C:\\vm\\disk.vhdx", "absolute-path"],
    ["\\\\vs1\\share\\x", "absolute-path"],
    ["../other/disk.vhdx", "parent-segment"],
    ["vm1/../../x", "parent-segment"],
    ["vm1/di\0sk", "nul-byte"],
    ["", "empty-path"],
    [".", "empty-path"],
  ])("%j is refused (%s)", (raw, rule) => {
    const r = checkFileList([raw]);
    expect(r.files).toEqual([]);
    expect(r.problems).toEqual([expect.objectContaining({ rule, path: raw })]);
  });

  test("every problem is reported, and duplicates after normalisation count", () => {
    const r = checkFileList(["a/x", "./a/x", "/abs", "b/../c", "ok"]);
    expect(r.files).toEqual(["a/x", "ok"]);
    expect(r.problems.map((p) => p.rule)).toEqual(["duplicate", "absolute-path", "parent-segment"]);
  });
});
