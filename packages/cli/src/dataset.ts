/**
 * Dataset files (JSON or YAML), checked against one schema before anything is sent: a typo must
 * never change what is backed up. An unknown key, a wrong type or a missing field is a usage error
 * (exit 2) naming the item, the key and the closest valid key.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { closest, distance } from "fastest-levenshtein";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ErrorCodes, RvssError } from "@rvss/core";
import { WriterErrorPolicy, type ShareSelection } from "@rvss/proto";

const relativePaths = z.array(z.string().min(1));

const vmSchema = z.strictObject({
  name: z.string().min(1),
  files: relativePaths.default([]),
});

const itemSchema = z.strictObject({
  svm: z.string().min(1),
  share: z.string().min(1),
  files: relativePaths.default([]),
  vms: z.array(vmSchema).default([]),
});

const ON_WRITER_ERROR = ["fail", "continue"] as const;

/** The whole file: a list of items, or the items with the backup's settings. */
const fileSchema = z.union([
  z.array(itemSchema),
  z.strictObject({
    items: z.array(itemSchema).min(1),
    on_writer_error: z.enum(ON_WRITER_ERROR).optional(),
    description: z.string().optional(),
    /** Retention of the backups made of it: Velero's ttl syntax, keep-last per SVM. */
    ttl: z.string().optional(),
    keep_last: z.number().int().min(0).optional(),
  }),
]);

export interface Dataset {
  items: ShareSelection[];
  onWriterError: WriterErrorPolicy;
  description: string;
  ttl: string;
  keepLast: number;
}

export function writerErrorPolicy(name: string | undefined): WriterErrorPolicy {
  if (name === undefined) return WriterErrorPolicy.WRITER_ERROR_POLICY_UNSPECIFIED;
  return name === "continue"
    ? WriterErrorPolicy.WRITER_ERROR_POLICY_CONTINUE
    : WriterErrorPolicy.WRITER_ERROR_POLICY_FAIL;
}

function usage(message: string): RvssError {
  return new RvssError(ErrorCodes.INVALID_ARGUMENT, message);
}

/** Keys the schema accepts at a path inside the file. */
function keysAt(p: readonly PropertyKey[]): string[] {
  const inVm = p.includes("vms") && typeof p[p.length - 1] === "number";
  if (inVm) return Object.keys(vmSchema.shape);
  if (typeof p[p.length - 1] === "number") return Object.keys(itemSchema.shape);
  return ["items", "on_writer_error", "description", "ttl", "keep_last"];
}

/** "item 2", "item 2, vm 1" or "item 2, file 3": 1-based, as people count. */
function where(p: readonly PropertyKey[]): string {
  const parts: string[] = [];
  for (let i = 0; i < p.length; i++) {
    if (typeof p[i] !== "number") continue;
    const label = p[i - 1] === "vms" ? "vm" : p[i - 1] === "files" ? "file" : "item";
    parts.push(`${label} ${(p[i] as number) + 1}`);
  }
  return parts.join(", ");
}

/** "d.json: item 2: " or "d.json: " for the file's top level. */
function at(file: string, p: readonly PropertyKey[]): string {
  const w = where(p);
  return w ? `${file}: ${w}: ` : `${file}: `;
}

function suggestion(key: string, valid: string[]): string {
  const near = closest(key, valid);
  return distance(key, near) <= Math.max(2, Math.floor(key.length / 3))
    ? `; did you mean "${near}"?`
    : ` (valid keys: ${valid.join(", ")})`;
}

/** One of zod's issues in words, naming the item and the key. */
function describe(issue: z.core.$ZodIssue, file: string): string {
  const p = issue.path;
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0]!;
    return `${at(file, p)}unknown key "${key}"${suggestion(key, keysAt(p))}`;
  }
  const last = p[p.length - 1];
  if (typeof last === "number") return `${at(file, p)}${issue.message.replace(/^Invalid input: /, "")}`;
  const key = String(last ?? "");
  const parent = at(file, p.slice(0, -1));
  if (issue.code === "invalid_type" && / received undefined$/.test(issue.message))
    return `${parent}"${key}" is missing`;
  if (issue.code === "invalid_value") return `${parent}"${key}" must be one of ${issue.values.join(", ")}`;
  return `${parent}"${key}": ${issue.message.replace(/^Invalid input: /, "")}`;
}

/** An unknown key explains a missing one ("shares" for "share"), so it is named first. */
function first(issues: z.core.$ZodIssue[]): z.core.$ZodIssue {
  return issues.find((i) => i.code === "unrecognized_keys") ?? issues[0]!;
}

/** Parses and checks a dataset document (already read from `file`). */
export function parseDataset(text: string, file: string): Dataset {
  let doc: unknown;
  try {
    doc = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw usage(`${file} is not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"}: ${(err as Error).message}`);
  }
  const schema = Array.isArray(doc) ? z.array(itemSchema) : fileSchema.options[1];
  const r = schema.safeParse(doc);
  if (!r.success) throw usage(describe(first(r.error.issues), file));
  const v = r.data;
  if (Array.isArray(v))
    return { items: v, onWriterError: writerErrorPolicy(undefined), description: "", ttl: "", keepLast: 0 };
  return {
    items: v.items,
    onWriterError: writerErrorPolicy(v.on_writer_error),
    description: v.description ?? "",
    ttl: v.ttl ?? "",
    keepLast: v.keep_last ?? 0,
  };
}

export function readDataset(file: string): Dataset {
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(file), "utf8");
  } catch (err) {
    throw usage(`cannot read the dataset ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseDataset(text, file);
}

export interface SelectionFlags {
  svm?: string;
  share?: string[];
  file?: string[];
  dataset?: string;
}

/** The dataset of --svm/--share/--file, or of --dataset FILE. */
export function datasetFrom(command: string, v: SelectionFlags): Dataset {
  if (v.dataset) {
    if (v.svm || v.share?.length || v.file?.length)
      throw usage(`${command}: give either --dataset or --svm/--share/--file, not both`);
    return readDataset(v.dataset);
  }
  if (!v.svm || !v.share?.length) throw usage(`${command} needs --svm and --share (or --dataset FILE)`);
  if (v.share.length > 1 && v.file?.length)
    throw usage("--file belongs to one share; with several --share use --dataset FILE");
  return {
    items: v.share.map((share) => ({ svm: v.svm!, share, files: v.file ?? [], vms: [] })),
    onWriterError: writerErrorPolicy(undefined),
    description: "",
    ttl: "",
    keepLast: 0,
  };
}

/** --keep-last as a whole number, refused naming the flag otherwise. */
export function keepLastFrom(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n)) throw usage(`--keep-last "${v}" must be a whole number >= 0`);
  return n;
}

/** --label key=value pairs as a map; one without "=" is refused naming it. */
export function labelsFrom(pairs: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) throw usage(`--label "${p}" must be key=value`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}
