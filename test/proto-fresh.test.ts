/**
 * Generated code is committed (so reading and installing need no code generator); this test fails
 * when it no longer matches proto/. Fix with `npm run proto:generate`.
 */
import { execFileSync } from "node:child_process";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";

const root = path.join(__dirname, "..");

async function files(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...(await files(dir, r)));
    else out.push(r);
  }
  return out.sort();
}

test("generated TypeScript and the descriptor set match proto/", async () => {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "rvss-proto-"));
  try {
    const buf = path.join(root, "node_modules", ".bin", "buf");
    execFileSync(buf, ["generate", "-o", tmp], {
      cwd: root,
      env: { ...process.env, PATH: `${path.join(root, "node_modules", ".bin")}:${process.env.PATH}` },
    });
    execFileSync(buf, ["build", "-o", path.join(tmp, "descriptor.binpb")], { cwd: root });
    const fresh = path.join(tmp, "packages", "proto", "src", "gen");
    const committed = path.join(root, "packages", "proto", "src", "gen");
    expect(await files(committed)).toEqual(await files(fresh));
    for (const f of await files(fresh)) {
      expect({ file: f, text: await fsp.readFile(path.join(committed, f), "utf8") }).toEqual({
        file: f,
        text: await fsp.readFile(path.join(fresh, f), "utf8"),
      });
    }
    expect(
      (await fsp.readFile(path.join(root, "packages", "proto", "descriptor.binpb"))).equals(
        await fsp.readFile(path.join(tmp, "descriptor.binpb")),
      ),
    ).toBe(true);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
});
