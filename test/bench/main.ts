/**
 * Benchmarks: `npm run bench -- <scenario>` runs test/bench/scenarios/<scenario>.ts, with no argument
 * every scenario. Each prints a small table and writes its figures to bench-results/<scenario>.json.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** What a scenario module exports. */
export interface Scenario {
  /** Runs the scenario, prints its table, returns its figures (JSON). */
  run(print: (line: string) => void): Promise<Record<string, unknown>>;
}

const scenariosDir = path.join(__dirname, "scenarios");
const resultsDir = path.join(__dirname, "..", "..", "..", "bench-results");

function known(): string[] {
  return fs
    .readdirSync(scenariosDir)
    .filter((f) => f.endsWith(".js"))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(): Promise<number> {
  const all = known();
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !all.includes(w));
  if (unknown.length > 0) {
    console.error(`unknown scenario ${unknown.join(", ")} (known: ${all.join(", ")})`);
    return 2;
  }
  fs.mkdirSync(resultsDir, { recursive: true });
  for (const name of wanted.length > 0 ? wanted : all) {
    console.log(`== ${name} (${os.cpus().length} cores, Node ${process.version})`);
    const scenario = require(path.join(scenariosDir, `${name}.js`)) as Scenario;
    const figures = await scenario.run((line) => console.log(line));
    const file = path.join(resultsDir, `${name}.json`);
    fs.writeFileSync(
      file,
      JSON.stringify(
        { scenario: name, at: new Date().toISOString(), cores: os.cpus().length, node: process.version, ...figures },
        null,
        2,
      ) + "\n",
    );
    console.log(`figures written to ${path.relative(process.cwd(), file)}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
