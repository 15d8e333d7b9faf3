import { parse } from "yaml";
import { printer, type Column } from "./printer";

interface Row {
  id: string;
  state: string;
  note: string;
}
const columns: Column<Row>[] = [
  { header: "id", value: (r) => r.id },
  { header: "state", value: (r) => r.state },
  { header: "note", value: (r) => r.note, wide: true },
];
const rows: Row[] = [
  { id: "a1", state: "COMPLETED", note: "nightly" },
  { id: "b22", state: "FAILED", note: "" },
];

function run(format: string, f: (p: ReturnType<typeof printer>) => void): { out: string; err: string } {
  let out = "";
  let err = "";
  f(printer(format, { out: (s) => (out += s), err: (s) => (err += s) }));
  return { out, err };
}

describe("the printer", () => {
  test("tables have a header; wide adds its columns; an empty list says so", () => {
    expect(run("table", (p) => p.list(rows, columns, {}, "none")).out).toBe(
      "ID   STATE\na1   COMPLETED\nb22  FAILED\n",
    );
    expect(run("wide", (p) => p.list(rows, columns, {}, "none")).out).toBe(
      "ID   STATE      NOTE\na1   COMPLETED  nightly\nb22  FAILED\n",
    );
    expect(run("table", (p) => p.list([], columns, {}, "no rows")).out).toBe("no rows\n");
  });

  test("json and yaml carry only the data on stdout; people's lines go to stderr", () => {
    const json = run("json", (p) => (p.say("progress"), p.item(() => "text", { a: [1, "x"] })));
    expect([JSON.parse(json.out), json.err]).toEqual([{ a: [1, "x"] }, "progress\n"]);
    const yaml = run("yaml", (p) => p.list(rows, columns, { rows }, "none"));
    expect(parse(yaml.out)).toEqual({ rows });
    const text = run("table", (p) => (p.say("progress"), p.note("hint")));
    expect(text).toEqual({ out: "progress\n", err: "hint\n" });
  });

  test("a stream is JSON lines or YAML documents", () => {
    expect(run("json", (p) => (p.streamItem("t1", { n: 1 }), p.streamItem("t2", { n: 2 }))).out).toBe(
      '{"n":1}\n{"n":2}\n',
    );
    expect(run("yaml", (p) => p.streamItem("t", { n: 1 })).out).toBe("---\nn: 1\n");
  });

  test("an unknown format is bad usage", () => {
    expect(() => printer("xml")).toThrow('output format "xml" is not one of table, wide, json, yaml');
  });
});
