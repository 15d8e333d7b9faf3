/**
 * The one printer: every verb that shows data hands it rows or one item, and `-o` chooses the form.
 * JSON and YAML are the proto's JSON mapping (enum names, as ts-proto's `toJSON` gives them) and are
 * the only thing written to stdout in those forms; progress goes to stderr.
 */
import { Option } from "commander";
import { stringify } from "yaml";
import { ErrorCodes, RvssError } from "@rvss/core";

export const FORMATS = ["table", "wide", "json", "yaml"] as const;
export type Format = (typeof FORMATS)[number];

/** `-o table|wide|json|yaml`, added to every verb that shows data. */
export function outputOption(): Option {
  return new Option("-o, --output <format>", "how to print the result").choices(FORMATS).default("table");
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Shown only with `-o wide`. */
  wide?: boolean;
}

export interface Printer {
  readonly format: Format;
  /** True for json and yaml: people's text (progress, hints) must go to stderr. */
  readonly machine: boolean;
  /** A line for people: stdout in table forms, stderr in json and yaml. */
  say(line: string): void;
  /** A notice beside the result (a hint, a lost connection, a refusal): always stderr. */
  note(line: string): void;
  /** Rows under a header; `json` is the whole list as the proto's JSON. */
  list<T>(rows: T[], columns: Column<T>[], json: unknown, empty: string): void;
  /** One item: `text` for people, `json` for machines. */
  item(text: () => string, json: unknown): void;
  /** One item of a stream: a JSON line, a YAML document, or a line of text. */
  streamItem(text: string, json: unknown): void;
}

export interface Streams {
  out: (s: string) => void;
  err: (s: string) => void;
}

const processStreams: Streams = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

export function printer(format: string, streams: Streams = processStreams): Printer {
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new RvssError(ErrorCodes.INVALID_ARGUMENT, `output format "${format}" is not one of ${FORMATS.join(", ")}`);
  }
  const f = format as Format;
  const machine = f === "json" || f === "yaml";
  const data = (json: unknown): string => (f === "json" ? JSON.stringify(json, null, 2) + "\n" : stringify(json));
  return {
    format: f,
    machine,
    say: (line) => (machine ? streams.err : streams.out)(line + "\n"),
    note: (line) => streams.err(line + "\n"),
    list(rows, columns, json, empty) {
      if (machine) return streams.out(data(json));
      if (rows.length === 0) return streams.out(empty + "\n");
      streams.out(table(rows, f === "wide" ? columns : columns.filter((c) => !c.wide)));
    },
    item(text, json) {
      streams.out(machine ? data(json) : text() + "\n");
    },
    streamItem(text, json) {
      if (f === "json") streams.out(JSON.stringify(json) + "\n");
      else if (f === "yaml") streams.out("---\n" + stringify(json));
      else streams.out(text + "\n");
    },
  };
}

/** Columns padded to their widest cell, headers in capitals, two spaces apart (as kubectl prints). */
export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = [columns.map((c) => c.header.toUpperCase()), ...rows.map((r) => columns.map((c) => c.value(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells
    .map(
      (row) =>
        row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join("  ")
          .trimEnd() + "\n",
    )
    .join("");
}
