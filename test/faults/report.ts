/**
 * The fault suite's table: one row per cell (what was broken, when, the outcome, and how long from
 * the kill until the interrupted set's next step event). Each test file prints its rows and writes
 * them to bench-results/faults/<group>.json; bench-results/faults.json gathers every group written so far.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { median } from "./system";

export interface FaultRow {
  cell: string;
  /** What was killed or injected. */
  fault: string;
  /** The phase in flight when it happened. */
  phase: string;
  outcome: string;
  /** Kill to the interrupted set's next step event (ms); absent where nothing was killed. */
  resumeMs?: number;
  problems: string[];
}

const RESULTS = path.join(__dirname, "..", "..", "bench-results");

export function writeFaultTable(group: string, rows: FaultRow[]): void {
  const width = Math.max(4, ...rows.map((r) => r.cell.length));
  const lines = [`\nfault suite: ${group}`, `${"cell".padEnd(width)}  ${"outcome".padEnd(34)}  kill→resumed`];
  for (const r of rows)
    lines.push(
      `${r.cell.padEnd(width)}  ${r.outcome.padEnd(34)}  ${r.resumeMs === undefined ? "-" : `${r.resumeMs} ms`}`,
    );
  const byFault = new Map<string, number[]>();
  for (const r of rows)
    if (r.resumeMs !== undefined) byFault.set(r.fault, [...(byFault.get(r.fault) ?? []), r.resumeMs]);
  for (const [fault, ms] of byFault)
    lines.push(`kill→resumed ${fault}: median ${median(ms)} ms, max ${Math.max(...ms)} ms over ${ms.length} cells`);
  process.stdout.write(lines.join("\n") + "\n");

  fs.mkdirSync(path.join(RESULTS, "faults"), { recursive: true });
  writeAtomic(path.join(RESULTS, "faults", `${group}.json`), { group, rows });
  const all = fs
    .readdirSync(path.join(RESULTS, "faults"))
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map(
      (f) =>
        JSON.parse(fs.readFileSync(path.join(RESULTS, "faults", f), "utf8")) as { group: string; rows: FaultRow[] },
    );
  writeAtomic(path.join(RESULTS, "faults.json"), { writtenAt: new Date().toISOString(), groups: all });
}

function writeAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + "\n");
  fs.renameSync(tmp, file);
}
