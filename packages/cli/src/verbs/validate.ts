/** rvss validate: checks shares against the Remote VSS directory rules before the backup window. */
import { InvalidArgumentError } from "commander";
import { ShareCheck } from "@rvss/proto";
import { datasetFrom } from "../dataset";
import { outputOption, printer } from "../printer";
import type { Register } from "../program";
import { selectionOptions } from "./backup";

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function clean(c: ShareCheck): boolean {
  return c.found && c.violations.length === 0;
}

/** A readable report of one share: where it lives, what the walk saw, every violation. */
export function describeCheck(c: ShareCheck): string {
  const name = `${c.svm}/${c.share}`;
  if (!c.found) return [`${name}: not found`, ...c.violations.map((v) => `  ${v.message}`)].join("\n");
  const r = c.resolved!;
  const l = c.layout!;
  const lines = [
    `${name}: volume ${r.volume}, path /${r.sharePath} (volume junction ${r.junctionPath})`,
    `  walked ${count(l.files, "file")}, ${count(l.directories, "directory", "directories")}${l.others ? `, ${count(l.others, "other entry", "other entries")}` : ""}; deepest file at depth ${l.deepestFile} (limit ${l.depthLimit || "none"}); VMs: ${c.vms.map((v) => v.name).join(", ") || "none"}`,
  ];
  if (c.storage)
    lines.push(
      `  storage: ${c.storage.filesystem}, cow ${c.storage.cow}${c.storage.cow === "none" ? " (one byte copy per backup)" : ""}`,
    );
  if (clean(c)) {
    lines.push(
      `  ok: ${r.files.length > 0 ? `the layout and ${count(r.files.length, "listed file")}` : "the layout"} meet${r.files.length > 0 ? "" : "s"} the Remote VSS rules`,
    );
    return lines.join("\n");
  }
  const total = c.violations.length + c.violationsNotListed;
  lines.push(`  ${count(total, "violation")}:`);
  const width = Math.max(...c.violations.map((v) => v.rule.length));
  for (const v of c.violations) lines.push(`    ${v.rule.padEnd(width)}  ${v.message}`);
  if (c.violationsNotListed > 0) lines.push(`    … and ${c.violationsNotListed} more not listed`);
  return lines.join("\n");
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${v}" is not a number of seconds > 0`);
  return n;
}

export const validateVerb: Register = (program, run) => {
  selectionOptions(
    program
      .command("validate")
      .description("preflight: check shares against the Remote VSS directory rules; exit 1 on violations"),
  )
    .option("--timeout <seconds>", "give up when the walk takes longer", seconds, 600)
    .addOption(outputOption())
    .action(
      run(async (s, o) => {
        const out = printer(o.output);
        const { items } = datasetFrom("validate", o);
        const client = s.preflight();
        const ms = o.timeout * 1000;
        const checks =
          items.length === 1 ? [await client.validateShare(items[0]!, ms)] : await client.validateDataset(items, ms);
        const bad = checks.filter((c) => !clean(c));
        const violations = bad.reduce((n, c) => n + c.violations.length + c.violationsNotListed, 0);
        out.item(
          () =>
            checks.map(describeCheck).join("\n\n") +
            (bad.length === 0
              ? `\n\n${count(checks.length, "share")} checked: ready for Remote VSS backups`
              : `\n\n${count(violations, "violation")} in ${count(bad.length, "share")} of ${checks.length}; a backup would fail`),
          { ok: bad.length === 0, checks: checks.map((c) => ShareCheck.toJSON(c)) },
        );
        return bad.length === 0 ? 0 : 1;
      }),
    );
};
