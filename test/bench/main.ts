/**
 * Benchmarks: `npm run bench -- <scenario>` runs test/bench/scenarios/<scenario>.ts, with no argument
 * every scenario. Each prints a small table and writes its figures to bench-results/<scenario>.json.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** What a scenario module exports. */
export interface Scenario {
  /** Runs the scenario, prints its table, returns its figures (JSON); `flags` are the command line's --name value pairs. */
  run(print: (line: string) => void, flags: Record<string, string>): Promise<Record<string, unknown>>;
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
  const args = process.argv.slice(2);
  const flags: Record<string, string> = {};
  const wanted: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) wanted.push(a);
    else if (i + 1 < args.length) flags[a.slice(2)] = args[++i]!;
    else {
      console.error(`flag ${a} needs a value`);
      return 2;
    }
  }
  const unknown = wanted.filter((w) => !all.includes(w));
  if (unknown.length > 0) {
    console.error(`unknown scenario ${unknown.join(", ")} (known: ${all.join(", ")})`);
    return 2;
  }
  fs.mkdirSync(resultsDir, { recursive: true });
  for (const name of wanted.length > 0 ? wanted : all) {
    console.log(`== ${name} (${os.cpus().length} cores, Node ${process.version})`);
    const scenario = require(path.join(scenariosDir, `${name}.js`)) as Scenario;
    const figures = await scenario.run((line) => console.log(line), flags);
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
