import { isRvssError } from "@rvss/core";
import { WriterErrorPolicy } from "@rvss/proto";
import { parseDataset } from "./dataset";

function refusal(text: string, file = "d.json"): string {
  try {
    parseDataset(text, file);
  } catch (err) {
    if (isRvssError(err, "INVALID_ARGUMENT")) return err.message;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("dataset files", () => {
  test.each([
    ['[{"svm": "vs1", "shares": "s1"}]', 'd.json: item 1: unknown key "shares"; did you mean "share"?'],
    ['[{"svm": "vs1", "share": "s1", "file": []}]', 'd.json: item 1: unknown key "file"; did you mean "files"?'],
    ['[{"svm": "vs1", "share": "s1"}, {"svm": "vs1"}]', 'd.json: item 2: "share" is missing'],
    ['[{"svm": "vs1", "share": "s1", "files": "a"}]', 'd.json: item 1: "files": expected array, received string'],
    ['[{"svm": "vs1", "share": "s1", "files": ["a", 2]}]', "d.json: item 1, file 2: expected string, received number"],
    [
      '[{"svm": "vs1", "share": "s1", "vms": [{"nme": "v"}]}]',
      'd.json: item 1, vm 1: unknown key "nme"; did you mean "name"?',
    ],
    [
      '[{"svm": "vs1", "share": "s1", "colour": 1}]',
      'd.json: item 1: unknown key "colour" (valid keys: svm, share, files, vms)',
    ],
    [
      '{"items": [], "on_writer_eror": "fail"}',
      'd.json: unknown key "on_writer_eror"; did you mean "on_writer_error"?',
    ],
    [
      '{"items": [{"svm": "vs1", "share": "s1"}], "on_writer_error": "maybe"}',
      'd.json: "on_writer_error" must be one of fail, continue',
    ],
    ['{"svm": "vs1"}', 'd.json: unknown key "svm" (valid keys: items, on_writer_error, description, ttl, keep_last)'],
    [
      '{"items": [{"svm": "vs1", "share": "s1"}], "keep_last": -1}',
      'd.json: "keep_last": Too small: expected number to be >=0',
    ],
    ["[{", "d.json is not valid JSON: Expected property name or '}' in JSON at position 2"],
  ])("%s is refused", (text, message) => {
    expect(refusal(text)).toBe(message);
  });

  test("YAML is read as well, with the same checks", () => {
    expect(refusal("- svm: vs1\n  shares: s1\n", "d.yaml")).toBe(
      'd.yaml: item 1: unknown key "shares"; did you mean "share"?',
    );
    expect(parseDataset("- svm: vs1\n  share: s1\n", "d.yml").items).toEqual([
      { svm: "vs1", share: "s1", files: [], vms: [] },
    ]);
  });

  test("the object form carries the backup's policy and description", () => {
    const d = parseDataset(
      '{"items": [{"svm": "vs1", "share": "s1", "vms": [{"name": "vm1", "files": ["vm1/a.vhdx"]}]}], "on_writer_error": "continue", "description": "nightly"}',
      "d.json",
    );
    expect(d).toEqual({
      items: [{ svm: "vs1", share: "s1", files: [], vms: [{ name: "vm1", files: ["vm1/a.vhdx"] }] }],
      onWriterError: WriterErrorPolicy.WRITER_ERROR_POLICY_CONTINUE,
      description: "nightly",
      ttl: "",
      keepLast: 0,
    });
  });

  test("the object form carries the retention of the backups made of it", () => {
    const d = parseDataset('{"items": [{"svm": "vs1", "share": "s1"}], "ttl": "720h", "keep_last": 7}', "d.json");
    expect(d).toMatchObject({ ttl: "720h", keepLast: 7 });
  });
});
