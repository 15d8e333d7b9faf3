/** The alert rules load in Prometheus's own checker and fire as their unit tests say (promtool). */
import { execFileSync } from "node:child_process";
import * as path from "node:path";

const root = path.join(__dirname, "..", "..");
const promtool = process.env.PROMTOOL_BIN ?? "promtool";

function run(args: string[]): string {
  return execFileSync(promtool, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

test("promtool check rules accepts the rules", () => {
  expect(run(["check", "rules", "deploy/helm/rvss/files/prometheus-rules.yaml"])).toMatch(/SUCCESS: 8 rules found/);
});

test("promtool test rules: no successful backup of SVM vs1 in 24 h fires, and every other alert as tested", () => {
  expect(run(["test", "rules", "test/ops/prometheus-rules.test.yaml"])).toMatch(/SUCCESS/);
});
