import { checkFileList, checkSelectionFiles } from "./file-list";

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

  test("a name longer than 255 bytes is refused, its message cut short", () => {
    const r = checkFileList([`vm1/${"x".repeat(5000)}.vhdx`]);
    expect(r.files).toEqual([]);
    expect(r.problems).toEqual([expect.objectContaining({ rule: "name-too-long" })]);
    expect(r.problems[0]!.message).toMatch(/has a name of 5005 bytes; no filesystem takes more than 255/);
    expect(r.problems[0]!.message.length).toBeLessThan(200);
    expect(checkFileList([`vm1/${"é".repeat(127)}`]).problems).toEqual([]);
  });

  test("every problem is reported, and duplicates after normalisation count", () => {
    const r = checkFileList(["a/x", "./a/x", "/abs", "b/../c", "ok"]);
    expect(r.files).toEqual(["a/x", "ok"]);
    expect(r.problems.map((p) => p.rule)).toEqual(["duplicate", "absolute-path", "parent-segment"]);
  });
});

describe("VM lists", () => {
  test("VM files join the file list: cloned, normalised, and duplicates across lists count", () => {
    const r = checkSelectionFiles(
      ["notes.txt"],
      [
        { name: " vm1 ", files: ["./vm1/a.vhdx", "notes.txt"] },
        { name: "vm2", files: ["vm2/b.vhdx"] },
      ],
    );
    expect(r.files).toEqual(["notes.txt", "vm1/a.vhdx", "vm2/b.vhdx"]);
    expect(r.vms).toEqual([
      { name: "vm1", files: ["vm1/a.vhdx"] },
      { name: "vm2", files: ["vm2/b.vhdx"] },
    ]);
    expect(r.problems.map((p) => [p.path, p.rule])).toEqual([["notes.txt", "duplicate"]]);
  });

  test("a VM needs a name, once, and files", () => {
    const r = checkSelectionFiles(
      [],
      [
        { name: "", files: ["a.vhdx"] },
        { name: "vm1", files: ["b.vhdx"] },
        { name: "VM1", files: [] },
      ],
    );
    expect(r.problems.map((p) => p.message)).toEqual([
      "VM 1 of the list has no name",
      'VM "VM1" is named more than once',
      'VM "VM1" lists no files',
    ]);
  });
});
