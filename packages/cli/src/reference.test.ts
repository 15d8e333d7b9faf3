import * as fs from "node:fs";
import * as path from "node:path";
import { buildProgram } from "./program";
import { REFERENCE_END, REFERENCE_START, commandReference } from "./reference";

test("the README's command reference is the one the command definitions give (npm run docs:cli)", () => {
  const readme = fs.readFileSync(path.join(__dirname, "..", "..", "..", "README.md"), "utf8");
  const start = readme.indexOf(REFERENCE_START);
  const end = readme.indexOf(REFERENCE_END) + REFERENCE_END.length;
  expect(start).toBeGreaterThanOrEqual(0);
  expect(readme.slice(start, end)).toBe(commandReference(buildProgram({ value: 0 })));
});
