/**
 * Every NATS subject, KV key and message ID is built in packages/core/src/wire.ts and nowhere else:
 * idempotency rests on a repeat building the same ID as the first publish, so a second spelling is a
 * bug waiting to happen. This scans the hand-written sources (tests may spell names to check them).
 */
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");
const HOME = path.join("packages", "core", "src", "wire.ts");

const RULES: [string, RegExp][] = [
  ["a subject", /["'`]rvss\.v1\.(cmd|evt|bkp|sys|sch|timer|dlq|req|writer)\b/],
  // Keys are built from IDs and tokens (or listed with a wildcard); "svm.uuid" is an ONTAP field.
  ["a KV key", /["'`](svm|backup|backup-name|restore|request|writer|schedule)\.(\$\{|\*)/],
  ["the planner's key", /["'`]planner["'`]/],
  ["a message ID", /`\$\{[^}]+\}:(started|added|creation|aborted|completed|created|finished|thaw|finish|delete)\b/],
  ["a message ID", /`(timer|reconcile|restore|schedule|delete|delete-snapshot):\$\{/],
  ["a message ID", /`\$\{[^}]+\}:deleted\b/],
];

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return ["node_modules", "dist", "gen"].includes(e.name) ? [] : sources(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [p] : [];
  });
}

test("subjects, KV keys and message IDs are spelled only in core's wire module", () => {
  const files = ["packages", "services", "test"].flatMap((d) => sources(path.join(ROOT, d)));
  const found: string[] = [];
  for (const f of files) {
    const rel = path.relative(ROOT, f);
    if (rel === HOME) continue;
    fs.readFileSync(f, "utf8")
      .split("\n")
      .forEach((line, i) => {
        for (const [what, re] of RULES) if (re.test(line)) found.push(`${rel}:${i + 1}: ${what}: ${line.trim()}`);
      });
  }
  expect(found).toEqual([]);
});

test("the rules see what they are meant to see", () => {
  const hits = (line: string) => RULES.filter(([, re]) => re.test(line)).length;
  expect(hits("const s = `rvss.v1.evt.${svm}.>`;")).toBe(1);
  expect(hits('list("svm.*")')).toBe(1);
  expect(hits("eventId: `${b.id}:finished`")).toBe(1);
  expect(hits('const service = "rvss.v1.BackupService";')).toBe(0);
});
